// A log mapped read-only into memory, for walks that read it in place (src/node/io/file.ts).
//
// Reading a log with read(2) copies every byte of it, payloads too, where a walk wants only
// the headers: bench/raw's 1.1 GiB log took 215-305 ms to read that way against 65-70 ms to
// touch its headers through a mapping, on one machine (memory copies at ~4.4 GB/s there).
//
// A mapping has one hazard a read has not: a file cut short under it raises SIGBUS where a
// page lies past the new end, which would kill the process without a word. So every mapping
// made here is registered, and a SIGBUS inside one maps a page of zeros over the page that
// faulted (the read goes on and sees zeros, as past the end of a file) and marks the mapping
// cut; the reader asks `logCut` and reports the log as changed. Any other SIGBUS goes to the
// handler there was before, or to the default action.
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addon.h"

/* Mappings alive at once: a process reads few logs at a time (the replay-log server one per call). */
enum { MAPS = 64 };

struct mapping {
  _Atomic(uintptr_t) start; /* 0: the slot is free */
  _Atomic(uintptr_t) end;
  atomic_int cut;
  uintptr_t id; /* which mapping: a later one may get the same address */
};

static struct mapping maps[MAPS];
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t last_id;
static struct sigaction before;
static long page_size;

/* In the handler: only atomics, mmap and sigaction (system calls). */
static void on_sigbus(int sig, siginfo_t *si, void *context) {
  uintptr_t at = (uintptr_t)si->si_addr;
  for (int i = 0; i < MAPS; i++) {
    uintptr_t start = atomic_load(&maps[i].start);
    if (!start || at < start || at >= atomic_load(&maps[i].end)) continue;
    void *page = (void *)(at & ~(uintptr_t)(page_size - 1));
    if (mmap(page, (size_t)page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) break;
    atomic_store(&maps[i].cut, 1);
    return;
  }
  if (before.sa_flags & SA_SIGINFO) {
    before.sa_sigaction(sig, si, context);
  } else if (before.sa_handler == SIG_IGN && si->si_code <= 0) {
    /* Sent (kill, tgkill) while ignored: still ignored. A fault cannot be ignored. */
  } else if (before.sa_handler != SIG_IGN && before.sa_handler != SIG_DFL) {
    before.sa_handler(sig);
  } else {
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(SIGBUS, &dfl, NULL);
    raise(SIGBUS);
  }
}

static void install_handler(void) {
  page_size = sysconf(_SC_PAGESIZE);
  struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &before);
}

/* The slot of the mapping at `start`, or -1. */
static int slot_of(uintptr_t start) {
  for (int i = 0; i < MAPS; i++)
    if (atomic_load(&maps[i].start) == start) return i;
  return -1;
}

/* The slot of live mapping `id`, or -1. */
static int slot_of_id(uintptr_t id) {
  for (int i = 0; i < MAPS; i++)
    if (atomic_load(&maps[i].start) && maps[i].id == id) return i;
  return -1;
}

/* Unmap mapping `id` once (unmapLog, or its buffer's finalizer, whichever comes first). */
static void unmap(uintptr_t id) {
  pthread_mutex_lock(&maps_lock);
  int i = slot_of_id(id);
  if (i >= 0) {
    uintptr_t start = atomic_load(&maps[i].start);
    uintptr_t end = atomic_load(&maps[i].end);
    atomic_store(&maps[i].start, 0);
    munmap((void *)start, end - start);
  }
  pthread_mutex_unlock(&maps_lock);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  unmap((uintptr_t)hint);
}

/* The ArrayBuffer argument's start, or 0 with a TypeError thrown. */
static uintptr_t buffer_arg(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  void *data = NULL;
  bool is;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != n ||
      napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is ||
      napi_get_arraybuffer_info(env, argv[0], &data, NULL) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return (uintptr_t)data;
}

/** mapLog(fd, length): the first `length` bytes of the file, an ArrayBuffer over a read-only mapping; or minus the errno. */
static napi_value MapLog(napi_env env, napi_callback_info info) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  size_t argc = 2;
  napi_value argv[2], result;
  int32_t fd;
  double length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_double(env, argv[1], &length) != napi_ok ||
      !(length >= 1) || length > 9007199254740991.0) {
    napi_throw_type_error(env, NULL, "mapLog(fd, length) takes an fd and a length of at least 1");
    return NULL;
  }
  pthread_once(&once, install_handler);
  int err = 0;
  uintptr_t id = 0;
  pthread_mutex_lock(&maps_lock);
  int i = slot_of(0);
  void *map = MAP_FAILED;
  if (i < 0) {
    err = EMFILE;
  } else if ((map = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
    err = errno;
  } else {
    /* A walk reads it once, front to back: read ahead far, keep nothing behind. */
    madvise(map, (size_t)length, MADV_SEQUENTIAL);
    atomic_store(&maps[i].cut, 0);
    maps[i].id = id = ++last_id;
    atomic_store(&maps[i].end, (uintptr_t)map + (size_t)length);
    atomic_store(&maps[i].start, (uintptr_t)map);
  }
  pthread_mutex_unlock(&maps_lock);
  if (err) {
    napi_create_int32(env, -err, &result);
    return result;
  }
  if (napi_create_external_arraybuffer(env, map, (size_t)length, finalize, (void *)id, &result) != napi_ok) {
    unmap(id);
    napi_create_int32(env, -ENOMEM, &result);
  }
  return result;
}

/** unmapLog(buffer): unmap at once and detach the buffer (its views read as empty from then on, never unmapped memory). */
static napi_value UnmapLog(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uintptr_t start = buffer_arg(env, info, 1, argv, "unmapLog(buffer) takes a buffer from mapLog");
  if (!start) return NULL;
  pthread_mutex_lock(&maps_lock);
  int i = slot_of(start);
  uintptr_t id = i >= 0 ? maps[i].id : 0;
  pthread_mutex_unlock(&maps_lock);
  unmap(id);
  napi_detach_arraybuffer(env, argv[0]);
  return NULL;
}

/** logCut(buffer): whether a read found the file shorter than the mapping (it read zeros there). */
static napi_value LogCut(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  uintptr_t start = buffer_arg(env, info, 1, argv, "logCut(buffer) takes a buffer from mapLog");
  if (!start) return NULL;
  pthread_mutex_lock(&maps_lock);
  int i = slot_of(start);
  bool cut = i >= 0 && atomic_load(&maps[i].cut);
  pthread_mutex_unlock(&maps_lock);
  napi_get_boolean(env, cut, &result);
  return result;
}

/**
 * dropMapped(buffer, offset, length): let go of the pages of [offset, offset + length) (whole
 * pages within it), so that a walk's resident memory stays small; reading them again maps
 * them again from the page cache.
 */
static napi_value DropMapped(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uintptr_t start = buffer_arg(env, info, 3, argv, "dropMapped(buffer, offset, length) takes a buffer from mapLog");
  double offset, length;
  if (!start) return NULL;
  if (napi_get_value_double(env, argv[1], &offset) != napi_ok || napi_get_value_double(env, argv[2], &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "dropMapped(buffer, offset, length) takes two numbers");
    return NULL;
  }
  pthread_mutex_lock(&maps_lock);
  int i = slot_of(start);
  if (i >= 0 && offset >= 0 && length > 0) {
    uintptr_t from = (start + (uintptr_t)offset + (uintptr_t)page_size - 1) & ~(uintptr_t)(page_size - 1);
    uintptr_t to = (start + (uintptr_t)(offset + length)) & ~(uintptr_t)(page_size - 1);
    uintptr_t end = atomic_load(&maps[i].end);
    if (to > end) to = end & ~(uintptr_t)(page_size - 1);
    if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
  }
  pthread_mutex_unlock(&maps_lock);
  return NULL;
}

void register_mapped(napi_env env, napi_value exports) {
  const struct { const char *name; napi_callback cb; } fns[] = {
    { "mapLog", MapLog }, { "unmapLog", UnmapLog }, { "logCut", LogCut }, { "dropMapped", DropMapped },
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
}
