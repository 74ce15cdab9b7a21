// The last-write plan in batches of many writes at once, for a target that takes them so
// (ReplayTarget.runs: a block device's O_DIRECT writes through io_uring or AIO).
//
// Where the writer writes straight from the log (its page cache, mapped: RunWriter.inPlace),
// nothing is read or copied in this process: the plan's pieces go out in device order, in
// batches of MAPPED_BATCH bytes, two in flight. Device order lets runs that continue one
// another on the device go out as one write wherever their payloads lie in the log (bench/raw
// by hand, medians of 7: 1.45 s against 1.55 s in 128 MiB windows of the log).
//
// Otherwise the payloads are read into the writer's memory, so the pieces are grouped by
// where their payloads lie in the log: each window of the log is read (in few large reads)
// while the one before is written, its writes in device order. In scattered device order,
// every write would read its payload from anywhere in the log, one read each.
//
// Each sector is still written once, with the same bytes: extents never overlap, so the order
// of their writes cannot matter.

import type { LogReader } from '../reader.ts';
import type { ReplayTarget, RunWriter } from './loop.ts';
import { ZEROED, type SectorMap } from './sector-map.ts';
import { truncatedPayload } from '../errors.ts';
import type { LastWriteResult } from './last-write.ts';

/** Log bytes per window read into memory: the payloads whose first byte lies in one are written together. */
const WINDOW = 8 * 1024 * 1024;
/**
 * Bytes written per batch where the writes go straight from the log. Batches cost little (the
 * log stays mapped from one to the next: bench/raw's replay-log took 1.56 s in
 * 16 MiB batches as in 512 MiB ones, medians of 9; with a mapping per batch, 64 MiB ones took
 * 1.87 s); the plan stops between them when asked.
 */
const MAPPED_BATCH = 16 * 1024 * 1024;
/** Extents are cut to pieces of at most this, so that a window's payloads fit WINDOW + PIECE. */
const PIECE = 1024 * 1024;
/** Payloads closer than this in the log are read in one read, the gap with them. */
const GAP = 64 * 1024;
/** Zeroed extents shorter than this are written as zeros among the writes; a zeroing call each would cost more. */
const SMALL_ZEROS = 16 * 1024;
/** One window is read (or batch issued) while the other is written. */
const BUFFERS = 2;
const BUFFER = WINDOW + PIECE;

/** Pieces of the plan: [device offset, length, log offset] each, in device order. */
interface Pieces {
  readonly rows: Float64Array;
  readonly count: number;
}

/** Small zeroed extents, as runs from a stretch of zeros in memory: [device offset, its offset, length]. */
class SmallZeros {
  rows: Float64Array = new Float64Array(3 * 64);
  count = 0;
  /** Every zeroed byte, small or not. */
  bytes = 0;

  constructor(readonly from: number) {}

  add(at: number, length: number): void {
    if (3 * this.count === this.rows.length) this.rows = grown(this.rows);
    this.rows.set([at, this.from, length], 3 * this.count++);
  }
}

export async function replayInBatches(
  reader: LogReader,
  target: ReplayTarget,
  runs: RunWriter,
  map: SectorMap,
  shouldStop: () => boolean | Promise<boolean>,
): Promise<LastWriteResult> {
  const log = runs.inPlace(reader.source);
  // The windows' buffers (when the log is read), then the stretch of zeros.
  const zeros = new SmallZeros(log ? 0 : BUFFERS * BUFFER);
  const memory = runs.take(zeros.from + SMALL_ZEROS);
  memory.fill(0, zeros.from, zeros.from + SMALL_ZEROS);
  const pending: Promise<void>[] = [];
  let bytesWritten = 0;
  let n = 0;
  /** Write a batch once the one before the last is done (`k`: which buffer it may use). */
  const issue = async (write: (k: number) => Promise<void>) => {
    const k = n++ % BUFFERS;
    await pending[k];
    const p = write(k);
    // Its failure is thrown where it is awaited (here or in settle): not an unhandled rejection meanwhile.
    p.catch(() => {});
    pending[k] = p;
  };
  const stopped = async () => {
    await settle(pending);
    await target.sync();
    return { bytesWritten, bytesZeroed: zeros.bytes, complete: false };
  };
  try {
    // Mapped, each batch is written as soon as it is collected; else all are collected first, to go by window.
    for await (const part of collect(map, reader.sectorSize, target, zeros, log ? MAPPED_BATCH : Infinity)) {
      for (const batch of log ? [identity(part.count)] : windows(part, WINDOW)) {
        if (await shouldStop()) return await stopped();
        if (log) await issue(() => runs.write(log, logRows(reader, part.rows, batch), batch.length));
        else
          await issue((k) => {
            const buffer = memory.subarray(k * BUFFER, (k + 1) * BUFFER);
            return runs.write(buffer, readWindow(reader, part.rows, batch, buffer), batch.length);
          });
        for (const i of batch) bytesWritten += part.rows[3 * i + 1]!;
      }
    }
    if (zeros.count) await issue(() => runs.write(memory, zeros.rows, zeros.count));
    await settle(pending);
    await target.sync();
    return { bytesWritten, bytesZeroed: zeros.bytes, complete: true };
  } finally {
    // A failure leaves writes in flight from the memory: it is given back only once they end.
    await Promise.allSettled(pending);
    runs.give(memory);
  }
}

/** Every write done; the first failure thrown. */
async function settle(pending: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(pending)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * The map's written extents as pieces, in batches of at least `batch` bytes (the last one
 * smaller); its zeroed extents zeroed by the target as they come, or kept in `zeros` when small.
 */
async function* collect(
  map: SectorMap,
  S: number,
  target: ReplayTarget,
  zeros: SmallZeros,
  batch: number,
): AsyncGenerator<Pieces> {
  let rows: Float64Array = new Float64Array(3 * 4096);
  let count = 0;
  let bytes = 0;
  for (const x of map.extents()) {
    const at = x.sector * S;
    const length = x.nrSectors * S;
    if (x.source === ZEROED) {
      zeros.bytes += length;
      if (length >= SMALL_ZEROS) await target.zero(at, length);
      else zeros.add(at, length);
      continue;
    }
    for (let done = 0; done < length; done += PIECE) {
      if (3 * count === rows.length) rows = grown(rows);
      rows[3 * count] = at + done;
      rows[3 * count + 1] = Math.min(PIECE, length - done);
      rows[3 * count++ + 2] = x.source + done;
    }
    bytes += length;
    if (bytes >= batch) {
      yield { rows, count };
      rows = new Float64Array(3 * 4096);
      count = 0;
      bytes = 0;
    }
  }
  if (count) yield { rows, count };
}

function grown(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** 0, 1, ..., n - 1: every piece of a batch. */
const identity = (n: number) => new Uint32Array(n).map((_, i) => i);

/** The pieces grouped by the window their payload starts in, windows in log order, pieces in device order. */
function* windows(p: Pieces, size: number): Generator<Uint32Array> {
  if (!p.count) return;
  const key = (i: number) => Math.floor(p.rows[3 * i + 2]! / size);
  let first = Infinity;
  let last = 0;
  for (let i = 0; i < p.count; i++) {
    first = Math.min(first, key(i));
    last = Math.max(last, key(i));
  }
  // A counting sort: stable, so each window keeps the device order the map gave.
  const starts = new Uint32Array(last - first + 2);
  for (let i = 0; i < p.count; i++) starts[key(i) - first + 1]!++;
  for (let w = 1; w < starts.length; w++) starts[w]! += starts[w - 1]!;
  const order = new Uint32Array(p.count);
  const fill = starts.slice(0, -1);
  for (let i = 0; i < p.count; i++) order[fill[key(i) - first]!++] = i;
  for (let w = 0; w + 1 < starts.length; w++)
    if (starts[w + 1]! > starts[w]!) yield order.subarray(starts[w]!, starts[w + 1]!);
}

/** The batch's rows for RunWriter.write from the log itself (its second column: log offsets), checked against the log's end. */
function logRows(reader: LogReader, rows: Float64Array, batch: Uint32Array): Float64Array {
  const out = new Float64Array(3 * batch.length);
  batch.forEach((i, j) => {
    const at = rows[3 * i]!;
    const length = rows[3 * i + 1]!;
    const source = rows[3 * i + 2]!;
    if (source + length > reader.source.size)
      throw truncatedPayload({ deviceSector: at / reader.sectorSize, need: source + length }, reader.source.size);
    out[3 * j] = at;
    out[3 * j + 1] = source;
    out[3 * j + 2] = length;
  });
  return out;
}

/**
 * Read the window's payloads into `buffer` and give its rows for RunWriter.write. Payloads
 * that lie close together are read in one read (all of them, when they are at least a
 * quarter of the bytes they span); each read starts at a sector of the log, so every payload
 * sits in the buffer as aligned as it does in the log.
 */
function readWindow(reader: LogReader, rows: Float64Array, window: Uint32Array, buffer: Uint8Array): Float64Array {
  const source = (j: number) => rows[3 * window[j]! + 2]!;
  const length = (j: number) => rows[3 * window[j]! + 1]!;
  const out = new Float64Array(3 * window.length);
  // The window's pieces by where they lie in the log (its positions j, sorted).
  const bySource = new Uint32Array(window.length).map((_, j) => j).sort((a, b) => source(a) - source(b));
  let end = 0;
  let bytes = 0;
  for (let j = 0; j < window.length; j++) {
    end = Math.max(end, source(j) + length(j));
    bytes += length(j);
  }
  const gap = bytes * 4 >= end - source(bySource[0]!) ? Infinity : GAP;
  let used = 0;
  for (let n = 0; n < bySource.length; ) {
    // One read: the pieces from n on that begin within `gap` of where the one before ends.
    const readStart = source(bySource[n]!);
    let readEnd = readStart;
    let m = n;
    for (; m < bySource.length && source(bySource[m]!) - readEnd <= gap; m++)
      readEnd = Math.max(readEnd, source(bySource[m]!) + length(bySource[m]!));
    const got = reader.source.readInto!(readStart, buffer.subarray(used, used + readEnd - readStart));
    for (; n < m; n++) {
      const j = bySource[n]!;
      if (source(j) + length(j) > readStart + got) {
        const deviceSector = rows[3 * window[j]!]! / reader.sectorSize;
        throw truncatedPayload({ deviceSector, need: source(j) + length(j) }, readStart + got);
      }
      out[3 * j] = rows[3 * window[j]!]!;
      out[3 * j + 1] = used + source(j) - readStart;
      out[3 * j + 2] = length(j);
    }
    used += readEnd - readStart;
  }
  return out;
}
