// Replaying a log onto a target entry by entry: the one loop every such replay goes through
// (`replay --plan sequential`, replay-log, digest's fingerprint, the viewer's device state).
// Two plans write a state without applying entries in turn, and say why in their own files:
// the last-write plan writes a SectorMap's extents (each sector once, in device order: the
// speed of the default plan), and explore's cursor moves a device between crash states by
// the segments whose owner changed (with an undo log, so no state is replayed from the start).

import { Flag } from '../format.ts';
import { Advance, type ByteSource, type Entry, type EntryCursor, type LogReader, type Position } from '../reader.ts';
import { LogFormatError, PastTarget, ReplayError, truncatedPayload } from '../errors.ts';

/** Where replayed bytes go: a file, a block device, memory. Offsets are bytes. */
export interface ReplayTarget {
  /** Write buffers that lie back to back on the target, starting at `offset`. */
  write(offset: number, parts: Uint8Array[]): void | Promise<void>;
  /** Make [offset, offset + length) read as zeros (what a discard leaves here). */
  zero(offset: number, length: number): void | Promise<void>;
  /** Make everything written so far durable. */
  sync(): void | Promise<void>;
  /** Bytes the target holds, when fixed: replay refuses an entry that would reach past it. */
  readonly size?: number;
  /** Many writes at once, straight from memory or the log: the last-write plan then goes in batches (batches.ts). */
  readonly runs?: RunWriter;
}

/**
 * Writes many runs at once, straight from memory the caller reads them into, or from the log
 * where it lies in memory (a block device's O_DIRECT writes through io_uring: node/io/direct.ts).
 */
export interface RunWriter {
  /** Device offsets and lengths of runs, and where they lie in memory, are multiples of this. */
  readonly block: number;
  /**
   * `source`'s bytes where `write` can take them from without a read (a mapping of the log:
   * log offsets are then offsets in it), or undefined: the caller reads them into memory.
   */
  inPlace(source: ByteSource): Uint8Array | undefined;
  /** Memory of at least `bytes`, aligned as the writes need; its contents are left over. */
  take(bytes: number): Uint8Array;
  give(memory: Uint8Array): void;
  /**
   * Write `count` runs from `from`, each [device offset, offset in `from`, length] in `rows`, in
   * device order (runs that continue one another go out as one write). Neither `from` nor
   * `rows` may change until it resolves; it rejects with the first write's failure.
   */
  write(from: Uint8Array, rows: Float64Array, count: number): Promise<void>;
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
   * Called for every entry before it is applied; `applies` says whether it will touch the
   * target. Like `visit`, it gets the reader's cursor: valid during the call only.
   */
  before?: (entry: EntryCursor, applies: boolean) => void;
  /**
   * Called for every entry in order, after it was applied (or skipped, `applied` false).
   * `settle` writes out what is still pending and syncs the target: call it before running
   * anything that reads the target. The entry is the reader's cursor, valid during the call
   * only: keep `entry.snapshot()` if you need it later.
   */
  visit?: (entry: EntryCursor, applied: boolean, settle: () => Promise<void>) => Step | Promise<Step>;
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

/** Writes that continue one another on the target, gathered into one vectored write. */
class Run {
  parts: Uint8Array[] = [];
  start = 0;
  end = 0;

  constructor(private readonly target: ReplayTarget) {}

  add(at: number, piece: Uint8Array): void | Promise<void> {
    if (this.parts.length && at !== this.end) {
      const written = this.flush();
      if (written) return written.then(() => this.add(at, piece));
    }
    if (!this.parts.length) this.start = at;
    this.parts.push(piece);
    this.end = at + piece.length;
  }

  flush(): void | Promise<void> {
    if (!this.parts.length) return;
    const parts = this.parts;
    this.parts = [];
    return this.target.write(this.start, parts);
  }
}

/**
 * Replay entries in log order onto `target`. The log is read in large chunks into one reused
 * buffer and payloads are written straight from it; writes that continue one another on the
 * target go out as one vectored write. Anything that breaks the run (a gap, a discard, a
 * check, the next read) writes it out first, so the target always sees the log's order.
 * Synchronous targets and sources cost no await per entry.
 */
export async function replay(reader: LogReader, target: ReplayTarget, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const S = reader.sectorSize;
  const discards = opts.discards ?? true;
  const from = opts.from ? { from: opts.from } : {};
  const c = reader.cursor({ ...from, payloads: true, reuseBuffer: true, readAhead: true });
  const run = new Run(target);
  let entries = 0;
  let lastIndex = -1;
  let bytesWritten = 0;
  let bytesZeroed = 0;
  const settle = async () => {
    await run.flush();
    await target.sync();
  };
  const last = () => (entries ? c.snapshot() : undefined);
  const result = (stopped: boolean): ReplayResult => {
    const l = last();
    return { entries, ...(l ? { last: l } : {}), bytesWritten, bytesZeroed, stopped };
  };

  try {
    for (;;) {
      const step = c.advance();
      if (step === Advance.End) break;
      if (step === Advance.Read) {
        // The run points into the buffer the read is about to overwrite.
        await run.flush();
        await c.fill();
        continue;
      }
      const applies = c.nrSectors !== 0 && overlaps(c, opts.sectors) && (discards || !(c.flags & Flag.DISCARD));
      opts.before?.(c, applies);
      if (applies) {
        const length = c.nrSectors * S;
        const at = c.sector * S;
        if (target.size !== undefined && at + length > target.size)
          throw new PastTarget(c.snapshot(), { bytes: target.size, end: at + length });
        if (c.flags & Flag.DISCARD) {
          await run.flush();
          await target.zero(at, length);
          bytesZeroed += length;
        } else {
          const inBuffer = c.payload();
          if (inBuffer) {
            const added = run.add(at, inBuffer);
            if (added) await added;
          } else await streamPayload(reader, target, run, c);
          bytesWritten += length;
        }
      }
      entries++;
      lastIndex = c.index;
      if (opts.visit) {
        const step = opts.visit(c, applies, settle);
        if ((step instanceof Promise ? await step : step) === 'stop') {
          await settle();
          return result(true);
        }
      }
    }
  } catch (e) {
    // Leave the target as of the last good entry, and say which one that was.
    await settle();
    if (e instanceof LogFormatError || e instanceof PastTarget) {
      const progress = lastIndex >= 0 ? `entry ${lastIndex} was the last one applied` : 'nothing was applied';
      throw new ReplayError(e, progress, last());
    }
    throw e;
  }
  await settle();
  return result(false);
}

/** A payload too big for the buffer, or cut short by the end of the log: written piece by piece, after checking it is all there. */
async function streamPayload(reader: LogReader, target: ReplayTarget, run: Run, c: EntryCursor): Promise<void> {
  const end = c.payloadOffset + c.payloadLength;
  if (end > reader.source.size) {
    throw truncatedPayload(c, reader.source.size);
  }
  await run.flush();
  let at = c.sector * reader.sectorSize;
  for await (const piece of reader.payload(c)) {
    await target.write(at, [piece]);
    at += piece.length;
  }
}
