// Epochs: the stretches of a log between two FLUSH entries, the unit a power cut scrambles.
//
// Entries before a FLUSH are durable once it completed (the log holds only completed
// requests). Inside an epoch, plain writes and discards sit in the volatile cache and may
// each be on disk or not; FUA writes are durable as they complete, in log order. A FLUSH
// entry that carries data is a REQ_PREFLUSH write: the flush comes first, so the entry
// closes the epoch before it, and its data is the first write of the epoch it opens (cached,
// or durable at once when it is also FUA).

import { Flag } from '../format.ts';
import type { LogReader } from '../reader.ts';
import type { Point } from '../range.ts';

/** A write or discard of an epoch. */
export interface EpochWrite {
  readonly entry: number;
  readonly sector: number;
  readonly nrSectors: number;
  /** Durable when it completed: present in every state whose crash point lies after it. */
  readonly fua: boolean;
  readonly discard: boolean;
  readonly payloadOffset: number;
}

export interface Epoch {
  readonly index: number;
  /** Entry number of the FLUSH that opens it (0 for the first): every entry before it is durable. */
  readonly start: number;
  /** Entry number of the FLUSH that closes it, or the number of entries when the log ends first. */
  readonly end: number;
  /** Writes and discards in log (completion) order; marks and empty flushes are not writes. */
  readonly writes: readonly EpochWrite[];
  readonly marks: readonly string[];
  /** The epoch after this one, once the walk has reached it (cursors step along this chain). */
  next?: Epoch;
}

export const isWrite = (flags: number, nrSectors: number) => nrSectors > 0 && !(flags & Flag.MARK);

/** Every epoch of the log, in order, from one pass over the headers. */
export async function* readEpochs(reader: LogReader): AsyncGenerator<Epoch> {
  let start = 0;
  let writes: EpochWrite[] = [];
  let marks: string[] = [];
  let prev: Epoch | undefined;
  let index = 0;
  let count = 0;
  const close = (end: number): Epoch => {
    const epoch: Epoch = { index: index++, start, end, writes, marks };
    if (prev) prev.next = epoch;
    prev = epoch;
    writes = [];
    marks = [];
    return epoch;
  };
  for await (const e of reader.entries()) {
    count = e.index + 1;
    if (e.flags & Flag.FLUSH) {
      yield close(e.index);
      start = e.index;
    }
    if (e.flags & Flag.MARK && e.mark !== undefined) marks.push(e.mark);
    if (!isWrite(e.flags, e.nrSectors)) continue;
    writes.push({
      entry: e.index,
      sector: e.sector,
      nrSectors: e.nrSectors,
      fua: (e.flags & Flag.FUA) !== 0,
      discard: (e.flags & Flag.DISCARD) !== 0,
      payloadOffset: e.payloadOffset,
    });
  }
  yield close(count);
}

/** Which epochs to explore: by number (inclusive), or those holding the entries from one point to another. */
export interface EpochSelection {
  epochs?: { from: number; to: number };
  from?: Point;
  to?: Point;
}

/** Whether each epoch, asked once and in order, holds point `p` (a repeated mark's `#n` counts occurrences). */
function epochsHolding(p: Point): (epoch: Epoch) => boolean {
  // `end` is where the walk ends: no epoch closes the selection before it.
  if ('end' in p) return () => false;
  if ('entry' in p) return (epoch) => p.entry >= epoch.start && p.entry < epoch.end;
  let seen = 0;
  return (epoch) => {
    const before = seen;
    seen += epoch.marks.filter((m) => m === p.mark).length;
    return p.nth === undefined ? seen > before : before < p.nth && p.nth <= seen;
  };
}

/** A filter that follows the walk: true from the first selected epoch to the last, then `done`. */
export class EpochFilter {
  private started: boolean;
  private finished = false;

  private readonly holdsFrom?: (epoch: Epoch) => boolean;
  private readonly holdsTo?: (epoch: Epoch) => boolean;

  constructor(private readonly sel: EpochSelection) {
    this.started = !sel.from;
    if (sel.from) this.holdsFrom = epochsHolding(sel.from);
    if (sel.to) this.holdsTo = epochsHolding(sel.to);
  }

  /** Whether `epoch` is selected; call once per epoch, in order. */
  take(epoch: Epoch): boolean {
    if (this.finished) return false;
    if (this.sel.epochs) {
      const { from, to } = this.sel.epochs;
      if (epoch.index > to) this.finished = true;
      if (epoch.index < from || epoch.index > to) return false;
    }
    if (!this.started && this.holdsFrom?.(epoch)) this.started = true;
    const holdsTo = this.holdsTo?.(epoch) ?? false;
    // `to` before `from`: nothing lies between them.
    if (holdsTo) this.finished = true;
    return this.started;
  }

  /** No later epoch can be selected. */
  get done(): boolean {
    return this.finished;
  }
}
