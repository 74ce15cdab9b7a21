// Writes to a block device that bypass its page cache (O_DIRECT), several in flight.
//
// Through the page cache, a write that covers part of a 4 KiB page makes the kernel read the
// page first; a replay of scattered small writes at 512-byte offsets onto a loop device then
// costs twice what its bytes do. Such writes (and only those: whole pages are cheaper in the
// page cache) go around it. O_DIRECT needs the
// buffer, the offset and the length aligned to the device's logical block size: the bytes
// are copied into slots of a WebAssembly.Memory, whose backing store is page-aligned, and
// written from there on libuv's threads while the replay goes on planning the next run.
// Writes that overlap one in flight wait for it, so the device ends as if they were in order.
//
// With the addon, the writer is also a RunWriter: the last-write plan hands it a batch of
// writes at once, which the addon keeps in flight through io_uring or the kernel's AIO
// (runs.c), straight from the log's page cache through the log's mapping (file.ts's inPlace)
// when the log is a file or a block device.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import type { RunWriter } from '../../replay/loop.ts';
import { Scratch } from '../../replay/scratch.ts';
import { sysfsDeviceDir, type DeviceInfo } from './device-info.ts';
import { loadNative } from './native.ts';
import { inPlace } from './file.ts';

/** Bytes per slot: the largest write (the last-write plan's runs are at most 8 MiB). */
const SLOT = 8 * 1024 * 1024;
/** Writes in flight: libuv's default thread pool has four threads. */
const SLOTS = 4;
const PAGE = 65536;
/** The page cache's page: writes covering part of one are read-modify-write there. */
const CACHE_PAGE = 4096;

interface InFlight {
  readonly start: number;
  readonly end: number;
  readonly slot: number;
  readonly done: Promise<void>;
}

/**
 * The slots' and the runs' memory, kept from one writer to the next (a replay-log server opens
 * one per call): views of a WebAssembly.Memory's buffer, which stays page-aligned and valid
 * while a view holds it (nothing grows it).
 */
const memories = new Scratch<Uint8Array>((bytes) => {
  const pages = Math.ceil(bytes / PAGE);
  return new Uint8Array(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer);
});

export class DirectWriter {
  /** The slots: taken at the first write, as a replay in log order (`runs`) needs none. */
  private slots: Uint8Array | undefined;
  private readonly free: number[] = [...Array(SLOTS).keys()];
  private readonly inFlight = new Set<InFlight>();
  private failure: unknown;

  private constructor(
    private readonly fd: number,
    /** Offsets and lengths must be multiples of this. */
    readonly block: number,
  ) {
    this.runs = this.runWriter();
  }

  /** Many writes at once from memory, when the addon is there (see RunWriter). */
  readonly runs: RunWriter | undefined;

  /** A writer for the block device at `file`, or undefined when it cannot take O_DIRECT writes. */
  static open(file: string, info: DeviceInfo, sys = '/sys'): DirectWriter | undefined {
    const flag = fs.constants.O_DIRECT;
    if (!info.isBlockDevice || !flag) return undefined;
    const block = logicalBlockSize(info, sys);
    if (!block || SLOT % block) return undefined;
    try {
      return new DirectWriter(fs.openSync(file, fs.constants.O_WRONLY | flag), block);
    } catch {
      return undefined;
    }
  }

  /**
   * Whether a write of `length` bytes at `offset` is worth sending this way: it can be (it is
   * aligned to the device's blocks) and the page cache would read a page first (it covers
   * part of a page). Whole pages are cheaper through the page cache: bench/raw's 4 KiB-aligned
   * writes took 6.5 s this way against 3.0 s buffered, four in flight on a loop device.
   */
  pays(offset: number, length: number): boolean {
    const aligned = offset % this.block === 0 && length % this.block === 0;
    return aligned && (offset % CACHE_PAGE !== 0 || length % CACHE_PAGE !== 0);
  }

  /** Start writing `parts` (back to back from `offset`); resolves once it is under way. */
  async write(offset: number, parts: readonly Uint8Array[]): Promise<void> {
    let at = offset;
    let part = 0;
    let within = 0;
    const total = parts.reduce((n, p) => n + p.length, 0);
    while (at < offset + total) {
      const length = Math.min(SLOT, offset + total - at);
      await this.clear(at, at + length);
      const slot = await this.slot();
      this.slots ??= memories.take(SLOT * SLOTS);
      const view = this.slots.subarray(slot * SLOT, slot * SLOT + length);
      for (let filled = 0; filled < length; ) {
        const p = parts[part]!;
        const n = Math.min(p.length - within, length - filled);
        view.set(p.subarray(within, within + n), filled);
        filled += n;
        within += n;
        if (within === p.length) {
          part++;
          within = 0;
        }
      }
      this.issue(at, view, slot);
      at += length;
    }
  }

  /**
   * Every write issued so far is done (and the first failure, if any, is thrown). Synchronous
   * when nothing is in flight: a replay of whole pages asks before each of its writes.
   */
  drain(): Promise<void> | void {
    if (!this.inFlight.size) return this.check();
    return Promise.all([...this.inFlight].map((w) => w.done)).then(() => this.check());
  }

  close(): void {
    fs.closeSync(this.fd);
    // Writes still in flight (a replay that failed) keep their slots: the memory is not reused then.
    if (this.slots && !this.inFlight.size) memories.give(this.slots);
  }

  private runWriter(): RunWriter | undefined {
    const writeRuns = loadNative()?.writeRuns;
    if (!writeRuns) return undefined;
    return {
      block: this.block,
      take: (bytes) => memories.take(bytes),
      give: (memory) => memories.give(memory),
      inPlace,
      write: async (from, rows, count) => {
        const r = await writeRuns(this.fd, from, rows, count);
        if (r < 0) throw writeFailure(r);
      },
    };
  }

  private issue(start: number, view: Uint8Array, slot: number): void {
    const w: InFlight = { start, end: start + view.length, slot, done: writeAll(this.fd, view, start) };
    this.inFlight.add(w);
    void w.done.then(
      () => this.release(w),
      (e) => {
        this.failure ??= e;
        this.release(w);
      },
    );
  }

  private release(w: InFlight): void {
    this.inFlight.delete(w);
    this.free.push(w.slot);
  }

  /** Wait for writes in flight over [start, end): a later write must land after them. */
  private async clear(start: number, end: number): Promise<void> {
    const overlapping = [...this.inFlight].filter((w) => w.start < end && start < w.end);
    if (overlapping.length) await Promise.all(overlapping.map((w) => w.done.catch(() => {})));
    this.check();
  }

  private async slot(): Promise<number> {
    while (!this.free.length) await Promise.race([...this.inFlight].map((w) => w.done.catch(() => {})));
    this.check();
    return this.free.pop()!;
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** A failed write as Node reports one (code, errno, syscall), from minus its errno. */
function writeFailure(errno: number): NodeJS.ErrnoException {
  const [code, description] = util.getSystemErrorMap().get(errno) ?? [`E${-errno}`, 'unknown error'];
  return Object.assign(new Error(`${code}: ${description}, write`), { code, errno, syscall: 'write' });
}

/** The whole view, however many writes that takes. */
function writeAll(fd: number, view: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (done: number) => {
      if (done === view.length) return resolve();
      fs.write(fd, view, done, view.length - done, position + done, (e, n) => {
        if (e) return reject(e);
        try {
          // Nothing written and no error: the synchronous call says why (ENOSPC, EIO) or writes.
          if (n === 0) n = fs.writeSync(fd, view, done, view.length - done, position + done);
        } catch (err) {
          return reject(err);
        }
        next(done + n);
      });
    };
    next(0);
  });
}

/** The device's logical block size from sysfs (a partition's is its disk's), or undefined. */
function logicalBlockSize(info: DeviceInfo, sys: string): number | undefined {
  const dir = sysfsDeviceDir(info.rdev, sys);
  if (dir === undefined) return undefined;
  for (const q of ['queue/logical_block_size', '../queue/logical_block_size']) {
    try {
      const n = Number(fs.readFileSync(path.join(dir, q), 'utf8').trim());
      if (n > 0) return n;
    } catch {
      // Not there: a partition keeps its queue on the disk, one level up.
    }
  }
  return undefined;
}
