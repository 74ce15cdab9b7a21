// What Node lacks and replay needs at native speed, in one optional addon (src/node/io/native.ts):
// the ioctls and fallocate modes for discards at device speed (src/node/io/zeroing.ts),
// sync_file_range for the stored entry index's check of a device log (src/node/io/log-identity.ts),
// and system(3) for replay-log's --fsck (glibc's vfork-based spawn costs ~1.5 ms where Node's
// spawnSync forks its whole address space, ~9 ms). Without it, both fall back (see there).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>

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
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "writeback(fd) takes one number");
    return NULL;
  }
  int r = sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  napi_value result;
  napi_create_int32(env, r < 0 ? -errno : 0, &result);
  return result;
}

/** system(command): the wait status system(3) returns, or -1. */
static napi_value System(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char command[65536];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], command, sizeof command, &len) != napi_ok || len >= sizeof command - 1) {
    napi_throw_type_error(env, NULL, "system(command) takes one string shorter than 64 KiB");
    return NULL;
  }
  // Node marks fds 0-2 close-on-exec at start; the command would run without stdin, stdout
  // and stderr (an fsck that prints fails on EBADF). They are inherited for its run only.
  int flags[3];
  for (int i = 0; i < 3; i++)
    if ((flags[i] = fcntl(i, F_GETFD)) >= 0) fcntl(i, F_SETFD, flags[i] & ~FD_CLOEXEC);
  int status = system(command);
  for (int i = 0; i < 3; i++)
    if (flags[i] >= 0) fcntl(i, F_SETFD, flags[i]);
  napi_value result;
  napi_create_int32(env, status, &result);
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
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
