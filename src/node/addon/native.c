// What Node lacks and replay needs at native speed, in one optional addon (src/node/io/native.ts):
// the ioctls and fallocate modes for discards at device speed (src/node/io/zeroing.ts),
// sync_file_range for the stored entry index's check of a device log (src/node/io/log-identity.ts),
// system(3) for replay-log's --fsck (a vfork-style spawn costs ~1.5 ms where Node's spawnSync
// forks its whole address space, ~9 ms: shell.c), the server side of the replay-log server's
// wire (src/node/replay-log/wire.h: fds passed over a Unix socket, which Node cannot receive),
// many O_DIRECT writes at once for replays onto block devices (runs.c), and logs mapped for
// reading in place (mapped.c). Without it, all fall back (see there); there is no server
// without it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../replay-log/wire.h"
#include "addon.h"

enum { OP_BLKDISCARD = 0, OP_BLKZEROOUT = 1, OP_PUNCH_HOLE = 2, OP_ZERO_RANGE = 3 };

static int run(int fd, int op, uint64_t offset, uint64_t length) {
  uint64_t range[2] = { offset, length };
  int r;
  switch (op) {
  case OP_BLKDISCARD: r = ioctl(fd, BLKDISCARD, range); break;
  case OP_BLKZEROOUT: r = ioctl(fd, BLKZEROOUT, range); break;
  case OP_PUNCH_HOLE: r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length); break;
  case OP_ZERO_RANGE: r = fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length); break;
  default: errno = EINVAL; r = -1;
  }
  return r < 0 ? -errno : 0;
}

/* The one string argument into `out` (size bytes); -1, with a TypeError thrown, when it is not one or is too long. */
static int string_arg(napi_env env, napi_callback_info info, char *out, size_t size, const char *usage) {
  size_t argc = 1, len;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], out, size, &len) != napi_ok || len >= size - 1) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  return 0;
}

/* n int32 arguments into `out`; -1, with a TypeError thrown, when they are not. */
static int int_args(napi_env env, napi_callback_info info, size_t n, int32_t *out, const char *usage) {
  size_t argc = n;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != n) goto bad;
  for (size_t i = 0; i < n; i++)
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok) goto bad;
  return 0;
bad:
  napi_throw_type_error(env, NULL, usage);
  return -1;
}

/** zero(fd, op, offset, length): 0, or minus the errno (the caller picks a fallback). */
static napi_value Zero(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) return NULL;
  int32_t fd, op;
  double offset, length;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &op) != napi_ok ||
      napi_get_value_double(env, argv[2], &offset) != napi_ok || napi_get_value_double(env, argv[3], &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "zero(fd, op, offset, length) takes four numbers");
    return NULL;
  }
  napi_value result;
  napi_create_int32(env, run(fd, op, (uint64_t)offset, (uint64_t)length), &result);
  return result;
}

/**
 * writeback(fd): write the file's dirty pages out and wait for them, without the cache flush
 * fdatasync sends the device (sync_file_range): 0, or minus the errno.
 */
static napi_value Writeback(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd, "writeback(fd) takes one number")) return NULL;
  int r = sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  napi_value result;
  napi_create_int32(env, r < 0 ? -errno : 0, &result);
  return result;
}

/** system(command): the wait status system(3) returns, or -1. */
static napi_value System(napi_env env, napi_callback_info info) {
  char command[65536];
  if (string_arg(env, info, command, sizeof command, "system(command) takes one string shorter than 64 KiB")) return NULL;
  int status = run_shell(command);
  napi_value result;
  napi_create_int32(env, status, &result);
  return result;
}


static napi_value throw_errno(napi_env env, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}


/** replayLogSocket(): where the replay-log server listens (wire.h's rule, the one its client follows). */
static napi_value ReplayLogSocket(napi_env env, napi_callback_info info) {
  (void)info;
  char path[108];
  const char *set = getenv(LWRL_SOCKET_ENV);
  if (set && *set) snprintf(path, sizeof path, "%s", set);
  else snprintf(path, sizeof path, LWRL_SOCKET_DEFAULT, (unsigned)geteuid());
  napi_value result;
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &result);
  return result;
}

/* Wait up to 5 s for the client's next bytes (libuv made the socket non-blocking). */
static ssize_t receive(int fd, struct msghdr *msg) {
  for (;;) {
    ssize_t n = recvmsg(fd, msg, MSG_CMSG_CLOEXEC);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r = poll(&p, 1, 5000);
    if (r == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    if (r < 0 && errno != EINTR) return -1;
  }
}

static void set_strings(napi_env env, napi_value obj, const char *name, char **p, const char *end, uint32_t n) {
  napi_value array, s;
  napi_create_array_with_length(env, n, &array);
  for (uint32_t i = 0; i < n && *p < end; i++) {
    napi_create_string_utf8(env, *p, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, array, i, s);
    *p += strlen(*p) + 1;
  }
  napi_set_named_property(env, obj, name, array);
}

/**
 * receiveCall(fd): one request off a new connection (wire.h), as
 * { uid, build, cwd, argv, env, fds }; it throws when the request is malformed or late.
 */
static napi_value ReceiveCall(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd, "receiveCall(fd) takes one number")) return NULL;
  struct ucred peer;
  socklen_t plen = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) < 0) return throw_errno(env, "SO_PEERCRED");
  struct lwrl_request head;
  int fds[LWRL_FDS] = { -1, -1, -1 };
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof fds)];
  } control;
  struct iovec iov = { &head, sizeof head };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space, .msg_controllen = sizeof control.space };
  ssize_t n = receive(fd, &msg);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof fds))
      memcpy(fds, CMSG_DATA(c), sizeof fds);
  size_t got = n > 0 ? (size_t)n : 0;
  struct msghdr more = { .msg_iov = &iov, .msg_iovlen = 1 };
  while (n > 0 && got < sizeof head) {
    iov = (struct iovec){ (char *)&head + got, sizeof head - got };
    n = receive(fd, &more);
    got += n > 0 ? (size_t)n : 0;
  }
  const char *bad = n < 0 ? strerror(errno) : got < sizeof head ? "the client closed early" : NULL;
  if (!bad && (head.magic != LWRL_MAGIC || head.version != LWRL_VERSION)) bad = "not a replay-log request";
  if (!bad && (head.length > LWRL_MAX_REQUEST || fds[2] < 0)) bad = "a malformed request";
  char *strings = bad ? NULL : malloc((size_t)head.length + 1);
  for (got = 0; strings && got < head.length;) {
    iov = (struct iovec){ strings + got, head.length - got };
    n = receive(fd, &more);
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (!bad && (!strings || got < head.length)) bad = "a request cut short";
  if (bad) {
    for (int i = 0; i < LWRL_FDS; i++)
      if (fds[i] >= 0) close(fds[i]);
    free(strings);
    napi_throw_error(env, "EPROTO", bad);
    return NULL;
  }
  strings[head.length] = 0;
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_uint32(env, peer.uid, &v);
  napi_set_named_property(env, obj, "uid", v);
  napi_create_string_utf8(env, head.build, strnlen(head.build, sizeof head.build), &v);
  napi_set_named_property(env, obj, "build", v);
  char *p = strings, *end = strings + head.length;
  napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "cwd", v);
  p += strlen(p) + 1;
  set_strings(env, obj, "argv", &p, end, head.argc);
  set_strings(env, obj, "env", &p, end, head.envc);
  napi_create_array_with_length(env, LWRL_FDS, &v);
  for (uint32_t i = 0; i < LWRL_FDS; i++) {
    napi_value f;
    napi_create_int32(env, fds[i], &f);
    napi_set_element(env, v, i, f);
  }
  napi_set_named_property(env, obj, "fds", v);
  free(strings);
  return obj;
}

/** peerGone(fd): whether the client hung up (its process ended); a poll that does not wait. */
static napi_value PeerGone(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd, "peerGone(fd) takes one number")) return NULL;
  struct pollfd p = { .fd = fd, .events = POLLRDHUP };
  napi_value result;
  napi_get_boolean(env, poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)), &result);
  return result;
}

/** memfd(name): an anonymous file in memory (memfd_create), for the server's warm-up; minus the errno on failure. */
static napi_value Memfd(napi_env env, napi_callback_info info) {
  char name[64];
  if (string_arg(env, info, name, sizeof name, "memfd(name) takes one string shorter than 63 bytes")) return NULL;
  int fd = memfd_create(name, MFD_CLOEXEC);
  napi_value result;
  napi_create_int32(env, fd < 0 ? -errno : fd, &result);
  return result;
}

static int saved_stdio[LWRL_FDS] = { -1, -1, -1 };

/** adoptStdio(fd0, fd1, fd2): make a call's fds this process's 0, 1 and 2 (closing them), keeping ours for restoreStdio. */
static napi_value AdoptStdio(napi_env env, napi_callback_info info) {
  int32_t fds[LWRL_FDS];
  if (int_args(env, info, LWRL_FDS, fds, "adoptStdio(fd0, fd1, fd2) takes three numbers")) return NULL;
  for (int i = 0; i < LWRL_FDS; i++) {
    if (saved_stdio[i] < 0 && (saved_stdio[i] = fcntl(i, F_DUPFD_CLOEXEC, 3)) < 0) return throw_errno(env, "dup");
    if (dup2(fds[i], i) < 0) return throw_errno(env, "dup2");
    close(fds[i]);
  }
  return NULL;
}

/** restoreStdio(): this process's own fds 0, 1 and 2 again. */
static napi_value RestoreStdio(napi_env env, napi_callback_info info) {
  (void)info;
  for (int i = 0; i < LWRL_FDS; i++)
    if (saved_stdio[i] >= 0 && dup2(saved_stdio[i], i) < 0) return throw_errno(env, "dup2");
  return NULL;
}

/** replyCall(fd, status): the reply that ends a call (wire.h); false when the client is gone. */
static napi_value ReplyCall(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (int_args(env, info, 2, a, "replyCall(fd, status) takes two numbers")) return NULL;
  struct lwrl_reply reply = { .magic = LWRL_MAGIC, .status = a[1] };
  napi_value result;
  napi_get_boolean(env, send(a[0], &reply, sizeof reply, MSG_NOSIGNAL) == (ssize_t)sizeof reply, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "zero", NAPI_AUTO_LENGTH, Zero, NULL, &fn);
  napi_set_named_property(env, exports, "zero", fn);
  napi_create_function(env, "writeback", NAPI_AUTO_LENGTH, Writeback, NULL, &fn);
  napi_set_named_property(env, exports, "writeback", fn);
  napi_create_function(env, "system", NAPI_AUTO_LENGTH, System, NULL, &fn);
  napi_set_named_property(env, exports, "system", fn);
  const struct { const char *name; napi_callback cb; } server[] = {
    { "replayLogSocket", ReplayLogSocket }, { "receiveCall", ReceiveCall },
    { "adoptStdio", AdoptStdio },           { "restoreStdio", RestoreStdio },
    { "replyCall", ReplyCall },             { "peerGone", PeerGone },
    { "memfd", Memfd },
  };
  napi_value v;
  napi_create_int32(env, LWRL_STALE, &v);
  napi_set_named_property(env, exports, "REPLY_STALE", v);
  napi_create_int32(env, LWRL_REFUSED, &v);
  napi_set_named_property(env, exports, "REPLY_REFUSED", v);
  for (size_t i = 0; i < sizeof server / sizeof *server; i++) {
    napi_create_function(env, server[i].name, NAPI_AUTO_LENGTH, server[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, server[i].name, fn);
  }
  register_runs(env, exports);
  register_mapped(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
