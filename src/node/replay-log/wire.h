/*
 * The replay-log server's wire (one header for both ends: the client, client.c, and the
 * server's side in the addon, src/node/addon/native.c).
 *
 * One call is one connection to a Unix stream socket. The client sends a request: the header
 * below, then `length` bytes of NUL-terminated strings (the working directory, argc arguments
 * from argv[0], envc "NAME=value" pairs), with its fds 0, 1 and 2 attached to the first byte
 * (SCM_RIGHTS). The server runs replay-log on those fds, in that directory, with that
 * environment, and answers with a reply once the call is over. A connection that closes
 * before the reply is a call the server stopped: the client's process ended, or the server's.
 */
#ifndef LOGWRITES_REPLAY_LOG_WIRE_H
#define LOGWRITES_REPLAY_LOG_WIRE_H

#include <stdint.h>

#define LWRL_MAGIC 0x4c57524cu /* "LWRL" */
#define LWRL_VERSION 1u
#define LWRL_BUILD_BYTES 40
/* Requests longer than this (argv and environment) are not sent: the call runs in-process. */
#define LWRL_MAX_REQUEST (1u << 20)
#define LWRL_FDS 3

struct lwrl_request {
  uint32_t magic;
  uint32_t version;
  uint32_t length; /* bytes of strings after the header */
  uint32_t argc;
  uint32_t envc;
  /* The build that compiled the client (NUL-padded); the server serves its own build only. */
  char build[LWRL_BUILD_BYTES];
};

struct lwrl_reply {
  uint32_t magic;
  /* The call's exit status (0-255), or one of the refusals below. */
  int32_t status;
};

/* The server is another build than the client: it stops, and the client runs the call itself. */
#define LWRL_STALE (-1)
/* The request was malformed or from another user. */
#define LWRL_REFUSED (-2)

/* Where the socket is: $LOGWRITES_REPLAY_LOG_SOCKET, else this with the effective uid. */
#define LWRL_SOCKET_ENV "LOGWRITES_REPLAY_LOG_SOCKET"
#define LWRL_SOCKET_DEFAULT "/tmp/logwrites-%u/replay-log.sock"
/* LOGWRITES_SERVER=off: the client never connects; =auto: it starts a server when none listens. */
#define LWRL_MODE_ENV "LOGWRITES_SERVER"
/* An automatically started server stops after this many seconds without a call. */
#define LWRL_AUTO_IDLE "60"
/* The in-process fallback's argv[0], passed to it in the environment (it removes it). */
#define LWRL_ARGV0_ENV "LOGWRITES_ARGV0"

#endif
