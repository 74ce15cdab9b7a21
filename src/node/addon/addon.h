// The addon's parts register their functions on its exports (native.c's Init calls them).
#ifndef LOGWRITES_ADDON_H
#define LOGWRITES_ADDON_H
#include <node_api.h>

/** writeRuns (runs.c). */
void register_runs(napi_env env, napi_value exports);

#endif
