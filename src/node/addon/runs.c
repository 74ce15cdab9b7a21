// Many writes at once, straight from memory, on a block device opened with O_DIRECT: the
// last-write plan's raw-device path (src/replay/batches.ts through src/node/io/direct.ts).
//
// A replay of scattered 4 KiB writes is bound by the cost of each write, not by its bytes.
// Through the page cache, a loop device took 232k such writes and the closing fsync in 2.0 s;
// the same writes through the kernel's AIO (io_submit, O_DIRECT, 64 in flight) took 0.86 s,
// and nothing is copied: the payloads were read from the log into the memory the writes go
// from, or they lie in the log's mapping (mapped.c), which nothing here reads: a log cut
// short under it fails a write with EFAULT, it raises no SIGBUS. Runs that continue one
// another on the device go out as one vectored write. Through io_uring where the kernel allows
// it, else Linux AIO (which needs no sysctl and no seccomp allowance in containers; at this
// depth both were as fast, but AIO costs ~40 ms at exit). Where neither can be set up
// (aio-max-nr reached), the same writes are made one by one with pwritev.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "addon.h"

/** Writes in flight. */
enum { DEPTH = 64 };
/** Runs gathered into one write, and its largest size. */
enum { GATHER = 64, MAX_WRITE = 8 << 20 };

struct batch {
  int fd;
  uint8_t *from; /* memory, or a log's mapping (mapped.c): nothing here reads it, the kernel does */
  const double *rows; /* [device offset, offset in `from`, length] per run, in device order */
  uint32_t count;
  int result; /* 0, or minus the first errno */
  napi_deferred deferred;
  napi_async_work work;
  napi_ref keep[2]; /* the memory and the rows, alive while the writes are */
};

/* One write: runs [first, first + n) back to back on the device from `offset`. */
struct write {
  uint64_t offset;
  size_t bytes;
  int iovcnt;
  struct iovec iov[GATHER];
};

/* The next write from run `*next` on: the runs that continue it, up to GATHER and MAX_WRITE. */
static void gather(const struct batch *b, uint32_t *next, struct write *w) {
  const double *r = b->rows + 3 * (size_t)*next;
  w->offset = (uint64_t)r[0];
  w->bytes = 0;
  w->iovcnt = 0;
  while (*next < b->count && w->iovcnt < GATHER && (uint64_t)r[0] == w->offset + w->bytes &&
         (w->iovcnt == 0 || w->bytes + (size_t)r[2] <= MAX_WRITE)) {
    w->iov[w->iovcnt++] = (struct iovec){ b->from + (uint64_t)r[1], (size_t)r[2] };
    w->bytes += (size_t)r[2];
    (*next)++;
    r += 3;
  }
}

/* Drop the first `n` bytes of `w`'s iovecs (and move its offset on): what a write made. */
static void consumed(struct write *w, size_t n) {
  w->offset += n;
  w->bytes -= n;
  struct iovec *iov = w->iov;
  while (n && n >= iov->iov_len) n -= (iov++)->iov_len;
  if (n) {
    iov->iov_base = (uint8_t *)iov->iov_base + n;
    iov->iov_len -= n;
  }
  w->iovcnt -= (int)(iov - w->iov);
  memmove(w->iov, iov, (size_t)w->iovcnt * sizeof *iov);
}

/* What is left of `w` after `done` bytes of it, written synchronously: 0, or minus the errno. */
static int finish(int fd, struct write *w, size_t done) {
  for (consumed(w, done); w->bytes;) {
    ssize_t n = pwritev(fd, w->iov, w->iovcnt, (off_t)w->offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -ENOSPC;
    consumed(w, (size_t)n);
  }
  return 0;
}

static int write_one_by_one(struct batch *b) {
  struct write w;
  for (uint32_t next = 0; next < b->count;) {
    gather(b, &next, &w);
    int r = finish(b->fd, &w, 0);
    if (r) return r;
  }
  return 0;
}

/*
 * Each of libuv's threads keeps its AIO context: io_destroy waits for an RCU grace period,
 * which cost ~40 ms per window of writes when every batch had its own context.
 */
static __thread aio_context_t thread_ctx;

/*
 * io_uring where the kernel allows it (containers' seccomp profiles often do not): a process
 * that made an AIO context waits an RCU grace period at exit for it, ~40 ms here (a replay-log
 * call of a few ms onto a block device took 40 ms longer for it), while a ring is torn down
 * after the process is gone. LOGWRITES_NO_URING=1 keeps to AIO (the tests run both).
 */
struct ring {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
};

static __thread struct ring thread_ring;
/* 0: not tried on this thread; 1: thread_ring is set up; -1: no ring (AIO then). */
static __thread int ring_state;

static int ring_setup(struct ring *r) {
  const char *no = getenv("LOGWRITES_NO_URING");
  if (no && !strcmp(no, "1")) return -1;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = (int)syscall(SYS_io_uring_setup, DEPTH, &p);
  if (fd < 0) return -1;
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  size_t len = sq_len > cq_len ? sq_len : cq_len;
  size_t sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  uint8_t *q = MAP_FAILED;
  void *sqes = MAP_FAILED;
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    sqes = mmap(NULL, sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  }
  if (q == MAP_FAILED || sqes == MAP_FAILED) {
    if (q != MAP_FAILED) munmap(q, len);
    if (sqes != MAP_FAILED) munmap(sqes, sqes_len);
    close(fd);
    return -1;
  }
  *r = (struct ring){ .fd = fd,
                      .sq_tail = (unsigned *)(q + p.sq_off.tail),
                      .sq_mask = (unsigned *)(q + p.sq_off.ring_mask),
                      .sq_array = (unsigned *)(q + p.sq_off.array),
                      .cq_head = (unsigned *)(q + p.cq_off.head),
                      .cq_tail = (unsigned *)(q + p.cq_off.tail),
                      .cq_mask = (unsigned *)(q + p.cq_off.ring_mask),
                      .sqes = sqes,
                      .cqes = (struct io_uring_cqe *)(q + p.cq_off.cqes) };
  return 0;
}

/* The ring's completions so far: their slots are idle again; a failed or short write sets `*result`. */
static void reap(struct ring *r, struct batch *b, struct write *slots, int *idle, int *nidle, int *inflight, int *result) {
  unsigned head = *r->cq_head;
  for (unsigned end = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE); head != end; head++) {
    const struct io_uring_cqe *e = &r->cqes[head & *r->cq_mask];
    int s = (int)e->user_data;
    if (e->res < 0 && !*result) *result = e->res;
    /* Short (the device's end): the rest synchronously, which says why it cannot be written. */
    else if (e->res >= 0 && (size_t)e->res < slots[s].bytes && !*result) *result = finish(b->fd, &slots[s], (size_t)e->res);
    idle[(*nidle)++] = s;
    (*inflight)--;
  }
  __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
}

/*
 * The ring's loop: as write_in_aio's, with the kernel's rings instead of io_submit and
 * io_getevents. If io_uring_enter itself fails (not for want of room), the writes in flight
 * still read the slots' iovecs and the memory they point to: their completions are waited for
 * on the ring's memory (the kernel posts them there when this thread next enters it, as a
 * sleep does) before the ring is closed and the caller frees that memory.
 */
static int write_in_ring(struct batch *b, struct write *slots, struct ring *r) {
  int idle[DEPTH], nidle = DEPTH, inflight = 0, result = 0;
  unsigned unsent = 0;
  for (int i = 0; i < DEPTH; i++) idle[i] = i;
  uint32_t next = 0;
  while (inflight || unsent || (!result && next < b->count)) {
    unsigned tail = *r->sq_tail;
    while (!result && nidle && next < b->count) {
      int s = idle[--nidle];
      gather(b, &next, &slots[s]);
      unsigned at = tail & *r->sq_mask;
      r->sqes[at] = (struct io_uring_sqe){ .opcode = IORING_OP_WRITEV, .fd = b->fd, .off = slots[s].offset,
                                           .addr = (uint64_t)(uintptr_t)slots[s].iov,
                                           .len = (uint32_t)slots[s].iovcnt, .user_data = (uint64_t)s };
      r->sq_array[at] = at;
      tail++;
      unsent++;
    }
    __atomic_store_n(r->sq_tail, tail, __ATOMIC_RELEASE);
    long sent = syscall(SYS_io_uring_enter, r->fd, unsent, inflight + unsent ? 1 : 0, IORING_ENTER_GETEVENTS, NULL, 0);
    if (sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EBUSY)) sent = 0;
    else if (sent < 0) {
      /* The ring cannot be used: this thread uses AIO from now on, once its writes are done. */
      if (!result) result = -errno;
      for (const struct timespec pause = { 0, 100000 }; inflight; nanosleep(&pause, NULL))
        reap(r, b, slots, idle, &nidle, &inflight, &result);
      close(r->fd);
      ring_state = -1;
      break;
    }
    unsent -= (unsigned)sent;
    inflight += (int)sent;
    reap(r, b, slots, idle, &nidle, &inflight, &result);
  }
  return result;
}

static int write_in_aio(struct batch *b, struct write *slots) {
  if (!thread_ctx && syscall(SYS_io_setup, DEPTH, &thread_ctx) < 0) {
    thread_ctx = 0;
    return write_one_by_one(b);
  }
  aio_context_t ctx = thread_ctx;
  struct iocb cbs[DEPTH], *queue[DEPTH];
  struct io_event events[DEPTH];
  int idle[DEPTH], nidle = DEPTH, queued = 0, inflight = 0, result = 0;
  for (int i = 0; i < DEPTH; i++) idle[i] = i;
  uint32_t next = 0;
  while (inflight || (!result && (queued || next < b->count))) {
    while (!result && nidle && next < b->count) {
      int s = idle[--nidle];
      gather(b, &next, &slots[s]);
      cbs[s] = (struct iocb){ .aio_data = (uint64_t)s, .aio_lio_opcode = IOCB_CMD_PWRITEV, .aio_fildes = (uint32_t)b->fd,
                              .aio_buf = (uint64_t)(uintptr_t)slots[s].iov, .aio_nbytes = (uint64_t)slots[s].iovcnt,
                              .aio_offset = (int64_t)slots[s].offset };
      queue[queued++] = &cbs[s];
    }
    long sent = result || !queued ? 0 : syscall(SYS_io_submit, ctx, queued, queue);
    if (sent > 0) {
      memmove(queue, queue + sent, (size_t)(queued - sent) * sizeof *queue);
      queued -= (int)sent;
      inflight += (int)sent;
    } else if (queued && !(sent < 0 && errno == EAGAIN && inflight)) {
      /* Not taken (and not for want of room: that waits for a completion), or a write failed
         meanwhile: the rest is written here, or dropped after a failure. */
      for (int i = 0; i < queued; i++) {
        int s = (int)queue[i]->aio_data;
        if (!result) result = finish(b->fd, &slots[s], 0);
        idle[nidle++] = s;
      }
      queued = 0;
    }
    if (!inflight) continue;
    long got = syscall(SYS_io_getevents, ctx, 1, DEPTH, events, NULL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      /* Writes in flight cannot be waited for: io_destroy waits for them, and a later batch gets a new context. */
      if (!result) result = -errno;
      syscall(SYS_io_destroy, ctx);
      thread_ctx = 0;
      break;
    }
    for (long i = 0; i < got; i++) {
      int s = (int)events[i].data;
      int64_t res = events[i].res;
      if (res < 0 && !result) result = (int)res;
      /* Short (the device's end): the rest synchronously, which says why it cannot be written. */
      else if (res >= 0 && (size_t)res < slots[s].bytes && !result) result = finish(b->fd, &slots[s], (size_t)res);
      idle[nidle++] = s;
      inflight--;
    }
  }
  return result;
}

/* The batch's writes, many in flight: through this thread's ring, else its AIO context. */
static int write_in_flight(struct batch *b) {
  struct write *slots = malloc(DEPTH * sizeof *slots);
  if (!slots) return write_one_by_one(b);
  if (!ring_state) ring_state = ring_setup(&thread_ring) ? -1 : 1;
  int r = ring_state > 0 ? write_in_ring(b, slots, &thread_ring) : write_in_aio(b, slots);
  free(slots);
  return r;
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct batch *b = data;
  b->result = write_in_flight(b);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct batch *b = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? b->result : -ECANCELED, &result);
  napi_resolve_deferred(env, b->deferred, result);
  for (int i = 0; i < 2; i++)
    if (b->keep[i]) napi_delete_reference(env, b->keep[i]);
  napi_delete_async_work(env, b->work);
  free(b);
}

/* The rows name only bytes of `from`, and whole, non-negative integers. */
static int rows_fit(const double *rows, uint32_t count, size_t from_length) {
  for (uint32_t i = 0; i < count; i++) {
    const double *r = rows + 3 * (size_t)i;
    for (int k = 0; k < 3; k++)
      if (!(r[k] >= 0 && r[k] <= 9007199254740991.0 && r[k] == (double)(uint64_t)r[k])) return 0;
    if (r[2] == 0 || r[1] + r[2] > (double)from_length) return 0;
  }
  return 1;
}

/**
 * writeRuns(fd, from: Uint8Array, rows: Float64Array, count): a promise of 0, or minus the
 * first errno. Neither `from` nor the rows may change until it settles.
 */
static napi_value WriteRuns(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  uint32_t count;
  napi_typedarray_type type[2];
  size_t length[2];
  void *data[2] = { NULL, NULL };
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_uint32(env, argv[3], &count) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type[0], &length[0], &data[0], NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &type[1], &length[1], &data[1], NULL, NULL) != napi_ok ||
      type[0] != napi_uint8_array || type[1] != napi_float64_array || (size_t)count * 3 > length[1] ||
      !rows_fit(data[1], count, length[0])) {
    napi_throw_type_error(env, NULL,
                          "writeRuns(fd, from: Uint8Array, rows: Float64Array, count) takes rows of "
                          "[device offset, offset in from, length] within from");
    return NULL;
  }
  struct batch *b = calloc(1, sizeof *b);
  if (!b) {
    napi_throw_error(env, NULL, "writeRuns: out of memory");
    return NULL;
  }
  *b = (struct batch){ .fd = fd, .from = data[0], .rows = data[1], .count = count };
  napi_value promise, name;
  napi_create_promise(env, &b->deferred, &promise);
  for (int i = 0; i < 2; i++) napi_create_reference(env, argv[1 + i], 1, &b->keep[i]);
  napi_create_string_utf8(env, "logwrites:writeRuns", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, b, &b->work);
  napi_queue_async_work(env, b->work);
  return promise;
}

void register_runs(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "writeRuns", NAPI_AUTO_LENGTH, WriteRuns, NULL, &fn);
  napi_set_named_property(env, exports, "writeRuns", fn);
}
