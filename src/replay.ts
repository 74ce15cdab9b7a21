// Replaying a log onto a target: the one loop every replay in this project goes through.

import { Flag, LogFormatError } from './format.ts';
import type { Batch, Entry, LogReader, Position } from './reader.ts';

/** Where replayed bytes go: a file, a block device, memory. Offsets are bytes. */
export interface ReplayTarget {
  /** Write buffers that lie back to back on the target, starting at `offset`. */
  write(offset: number, parts: Uint8Array[]): void | Promise<void>;
  /** Make [offset, offset + length) read as zeros (what a discard leaves here). */
  zero(offset: number, length: number): void | Promise<void>;
  /** Make everything written so far durable. */
  sync(): void | Promise<void>;
}

/** What the visitor wants after an entry: go on, or stop with this entry as the last one. */
export type Step = 'next' | 'stop';

export interface ReplayOptions {
  from?: Position;
  /** Apply discards as zeros (default) or skip them. */
  discards?: boolean;
  /** Only entries overlapping sectors [start, end] (inclusive, in log sectors) touch the target. */
  sectors?: { start: number; end: number };
  /**
   * Called for every entry in order, after it was applied (or skipped, `applied` false).
   * `settle` writes out what is still pending and syncs the target: call it before running
   * anything that reads the target.
   */
  visit?: (entry: Entry, applied: boolean, settle: () => Promise<void>) => Step | Promise<Step>;
}

export interface ReplayResult {
  /** Entries visited, the last one included. */
  readonly entries: number;
  readonly last?: Entry;
  readonly bytesWritten: number;
  readonly bytesZeroed: number;
  /** True when the visitor stopped the replay, false when the log ended. */
  readonly stopped: boolean;
}

/** True when the entry touches the target at all within `sectors`. */
export function overlaps(e: Entry, sectors?: { start: number; end: number }): boolean {
  if (!sectors || e.nrSectors === 0) return true;
  return e.sector + e.nrSectors > sectors.start && e.sector <= sectors.end;
}

/**
 * Replay entries in log order onto `target`. Writes that continue one another on the target
 * are gathered into one vectored write, so a log of sequential writes costs few syscalls;
 * anything that breaks the run (a gap, a discard, a check) writes the run out first, so the
 * target always sees the log's order.
 */
export async function replay(reader: LogReader, target: ReplayTarget, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const S = reader.sectorSize;
  const discards = opts.discards ?? true;
  let run: Uint8Array[] = [];
  let runStart = 0;
  let runEnd = 0;
  let entries = 0;
  let last: Entry | undefined;
  let bytesWritten = 0;
  let bytesZeroed = 0;

  const flushRun = async () => {
    if (!run.length) return;
    const parts = run;
    run = [];
    await target.write(runStart, parts);
  };
  const settle = async () => {
    await flushRun();
    await target.sync();
  };
  const queue = (at: number, piece: Uint8Array) => {
    if (run.length && at !== runEnd) return false;
    if (!run.length) runStart = at;
    run.push(piece);
    runEnd = at + piece.length;
    return true;
  };
  const apply = async (e: Entry, batch: Batch) => {
    if (!overlaps(e, opts.sectors) || e.nrSectors === 0) return false;
    const at = e.sector * S;
    if (e.flags & Flag.DISCARD) {
      if (!discards) return false;
      await flushRun();
      await target.zero(at, e.nrSectors * S);
      bytesZeroed += e.nrSectors * S;
      return true;
    }
    let offset = at;
    for await (const piece of reader.payload(e, batch)) {
      if (!queue(offset, piece)) {
        await flushRun();
        queue(offset, piece);
      }
      offset += piece.length;
    }
    bytesWritten += e.payloadLength;
    return true;
  };

  try {
    for await (const batch of reader.batches({ from: opts.from, payloads: true })) {
      for (const e of batch.entries) {
        const applied = await apply(e, batch);
        entries++;
        last = e;
        if (opts.visit) {
          const step = opts.visit(e, applied, settle);
          if ((step instanceof Promise ? await step : step) === 'stop') {
            await settle();
            return { entries, last, bytesWritten, bytesZeroed, stopped: true };
          }
        }
      }
      // Buffers in the run belong to this batch's read; the next batch reuses nothing, but
      // writing here keeps at most one chunk of payload in flight.
      await flushRun();
    }
  } catch (e) {
    // Leave the target as of the last good entry, and say which one that was.
    await settle();
    if (e instanceof LogFormatError) {
      const lastText = last ? `entry ${last.index} was the last one applied` : 'nothing was applied';
      throw new ReplayError(e, lastText, last);
    }
    throw e;
  }
  await settle();
  return { entries, last, bytesWritten, bytesZeroed, stopped: false };
}

/** A log error met during replay, with what the target holds now. */
export class ReplayError extends Error {
  constructor(
    readonly cause: LogFormatError,
    readonly progress: string,
    readonly last?: Entry,
  ) {
    super(`${cause.message} (${progress})`);
    this.name = 'ReplayError';
  }
}
