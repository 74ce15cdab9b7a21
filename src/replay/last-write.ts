// Replay to a point by writing only what the point holds: the last version of every sector
// the range touched, in device order, merged into large sequential writes. Overwritten
// versions are never read or written, so a log that rewrites its sectors often costs a
// fraction of entry-by-entry replay. That is why this plan does not go through the replay
// loop (loop.ts): it applies no entry, only the SectorMap that scanRange built from them,
// with the same rule for what an entry leaves (sector-map.ts's contentSource). A target that
// writes many runs at once takes the plan in batches instead (batches.ts).

import type { LogReader } from '../reader.ts';
import type { ReplayTarget } from './loop.ts';
import { ZEROED, type SectorMap } from './sector-map.ts';
import { truncatedPayload } from '../errors.ts';
import { Scratch } from './scratch.ts';
import { replayInBatches } from './batches.ts';

/** Largest single write the plan issues (bigger runs are split). */
const MAX_RUN = 8 * 1024 * 1024;
/**
 * Zeroed extents are zeroed by the target (a discard, a hole), except for the parts of them
 * that share a 4 KiB page with a write, and extents shorter than INLINE_ZEROS: those are
 * written as zeros inside the run next to them. After a discard of the whole device the plan
 * is written sectors with discarded gaps between them; so every write covers whole pages (a
 * write to part of a block device's page makes the kernel read the page first: 10x the cost
 * of the write on a loop device) and tiny gaps cost no call of their own.
 */
const PAGE = 4096;
const INLINE_ZEROS = 16 * 1024;
let zeros: Uint8Array | undefined;
/** Payloads are read into one buffer of this size where the source can (readInto), not one allocation each. */
const ARENA = 2 * MAX_RUN;
/**
 * When every payload the plan needs lies within this many log bytes, and they are at least
 * a quarter of them, the stretch is read in one call: xfstests' calls replay a few
 * megabytes from thousands of places each, and one read costs less than a read per place.
 */
const ONE_READ = 32 * 1024 * 1024;
/** The stretch's buffer or the arena, kept between plans. */
const scratch = new Scratch((bytes) => new Uint8Array(bytes));

export interface LastWriteResult {
  readonly bytesWritten: number;
  readonly bytesZeroed: number;
  /** False when `shouldStop` cut it short. */
  readonly complete: boolean;
}

export async function replayLastWrites(
  reader: LogReader,
  target: ReplayTarget,
  map: SectorMap,
  shouldStop: () => boolean | Promise<boolean> = () => false,
): Promise<LastWriteResult> {
  const runs = target.runs;
  if (runs && reader.source.readInto && reader.sectorSize % runs.block === 0)
    return replayInBatches(reader, target, runs, map, shouldStop);
  const stretch = payloadStretch(map, reader.sectorSize);
  const span = stretch.end - stretch.start;
  const oneRead = !!reader.source.readInto && span <= ONE_READ && stretch.bytes * 4 >= span;
  const buffer = reader.source.readInto ? scratch.take(oneRead ? span : ARENA) : undefined;
  try {
    const whole = buffer && oneRead ? readStretch(reader, stretch, buffer) : undefined;
    const arena = buffer && !oneRead ? buffer.subarray(0, ARENA) : undefined;
    return await writeExtents(reader, target, map, shouldStop, whole, arena);
  } finally {
    if (buffer) scratch.give(buffer);
  }
}

/** Write the map's extents in device order, payloads from `whole` (the stretch, read) or read into `arena`. */
async function writeExtents(
  reader: LogReader,
  target: ReplayTarget,
  map: SectorMap,
  shouldStop: () => boolean | Promise<boolean>,
  whole: { start: number; bytes: Uint8Array } | undefined,
  arena: Uint8Array | undefined,
): Promise<LastWriteResult> {
  const S = reader.sectorSize;
  let parts: Uint8Array[] = [];
  let runStart = 0;
  let runEnd = 0;
  let bytesWritten = 0;
  let bytesZeroed = 0;
  let used = 0;
  const flush = async () => {
    if (parts.length) await target.write(runStart, parts);
    parts = [];
    used = 0;
  };
  /** Log bytes [offset, offset + length): fewer only where the log ends. */
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    if (whole)
      return whole.bytes.subarray(
        offset - whole.start,
        Math.max(offset - whole.start, Math.min(whole.bytes.length, offset - whole.start + length)),
      );
    if (!arena) return reader.source.read(offset, length);
    // The run's pieces point into the arena: write them out before it is reused.
    if (used + length > ARENA) await flush();
    const view = arena.subarray(used, used + length);
    const got = reader.source.readInto!(offset, view);
    used += length;
    return view.subarray(0, got);
  };
  /** Write the run out unless [at, at + length) continues it. */
  const endRunUnlessAt = async (at: number, length: number) => {
    if (parts.length && (runEnd !== at || runEnd - runStart + length > MAX_RUN)) await flush();
  };
  /** Append a piece to the run, written out first when this does not continue it. */
  const add = async (at: number, piece: Uint8Array) => {
    await endRunUnlessAt(at, piece.length);
    if (!parts.length) runStart = at;
    parts.push(piece);
    runEnd = at + piece.length;
  };
  const addZeros = async (at: number, length: number) => {
    zeros ??= new Uint8Array(INLINE_ZEROS + 2 * PAGE);
    if (length > 0) await add(at, zeros.subarray(0, length));
  };
  for (const x of map.extents()) {
    if (await shouldStop()) {
      await flush();
      await target.sync();
      return { bytesWritten, bytesZeroed, complete: false };
    }
    const at = x.sector * S;
    const length = x.nrSectors * S;
    if (x.source === ZEROED) {
      bytesZeroed += length;
      const end = at + length;
      const middle = Math.min(end, Math.ceil(at / PAGE) * PAGE);
      const tail = Math.max(middle, Math.floor(end / PAGE) * PAGE);
      if (tail - middle < INLINE_ZEROS) {
        await addZeros(at, length);
        continue;
      }
      await addZeros(at, middle - at);
      await flush();
      await target.zero(middle, tail - middle);
      await addZeros(tail, end - tail);
      continue;
    }
    for (let done = 0; done < length; ) {
      const piece = Math.min(MAX_RUN, length - done);
      // Before the read: ending the run frees the arena, which must not drop this piece.
      await endRunUnlessAt(at + done, piece);
      const bytes = await read(x.source + done, piece);
      if (bytes.length < piece) {
        throw truncatedPayload(
          { deviceSector: x.sector + done / S, need: x.source + done + piece },
          x.source + done + bytes.length,
        );
      }
      await add(at + done, bytes);
      done += piece;
      bytesWritten += piece;
    }
  }
  await flush();
  await target.sync();
  return { bytesWritten, bytesZeroed, complete: true };
}

interface Stretch {
  /** Log bytes [start, end) hold every payload the plan reads. */
  readonly start: number;
  readonly end: number;
  /** The payload bytes within it. */
  readonly bytes: number;
}

function payloadStretch(map: SectorMap, S: number): Stretch {
  let start = Infinity;
  let end = 0;
  let bytes = 0;
  for (const x of map.extents()) {
    if (x.source === ZEROED) continue;
    start = Math.min(start, x.source);
    end = Math.max(end, x.source + x.nrSectors * S);
    bytes += x.nrSectors * S;
  }
  return { start: Math.min(start, end), end, bytes };
}

/** The stretch in one read; fewer bytes where the log ends (the plan's reads then come up short). */
function readStretch(reader: LogReader, s: Stretch, buffer: Uint8Array): { start: number; bytes: Uint8Array } {
  const bytes = buffer.subarray(0, s.end - s.start);
  const got = reader.source.readInto!(s.start, bytes);
  return { start: s.start, bytes: bytes.subarray(0, got) };
}
