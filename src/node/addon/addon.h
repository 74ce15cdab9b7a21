// The addon's parts register their functions on its exports (native.c's Init calls them).
#ifndef LOGWRITES_ADDON_H
#define LOGWRITES_ADDON_H
#include <node_api.h>

/** system(3) without SIGCHLD (shell.c): the wait status, or -1. */
int run_shell(const char *command);

/** writeRuns (runs.c). */
void register_runs(napi_env env, napi_value exports);

/** mapLog, unmapLog, logCut and dropMapped (mapped.c). */
void register_mapped(napi_env env, napi_value exports);

#endif
