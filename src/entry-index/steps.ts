// What happened between two points of a log, from the entry index alone: how many entries,
// writes, bytes, flushes, FUAs and discards, and how many distinct device sectors they touched.
// A "step" is the stretch a mark ends (from the entry after the previous mark), which is how
// workloads that mark their phases are read: the viewer's marks panel, a range selected on the
// timeline and the CLI can all use the same figures.

import { Flag } from '../format.ts';
import { payloadLength, type LogIndex, type MarkRef } from './log-index.ts';

export interface StepStats {
  /** First and last entry, inclusive. */
  readonly from: number;
  readonly to: number;
  readonly entries: number;
  /** Entries that wrote data (neither discards nor zero-length). */
  readonly writes: number;
  /** Payload bytes those writes carried. */
  readonly bytes: number;
  readonly flushes: number;
  readonly fuas: number;
  readonly discards: number;
  readonly discardedBytes: number;
  readonly metadata: number;
  readonly marks: number;
  /** Distinct device sectors written or discarded (overlaps counted once). */
  readonly sectorsTouched: number;
  /** Entries of the range past the super's nr_entries (replay does not reach them). */
  readonly pastEnd: number;
}

export interface MarkStep extends StepStats {
  /** The mark that ends the step; absent for the entries after the last mark. */
  readonly mark?: MarkRef;
}

/** The figures for entries `from`..`to` (inclusive, clipped to the index). */
export function stepStats(index: LogIndex, from: number, to: number): StepStats {
  const lo = Math.max(0, from);
  const hi = Math.min(index.count - 1, to);
  const counts = { writes: 0, bytes: 0, flushes: 0, fuas: 0, discards: 0, discardedBytes: 0, metadata: 0, marks: 0 };
  const starts: number[] = [];
  const ends: number[] = [];
  for (let i = lo; i <= hi; i++) {
    const f = index.flags[i]!;
    const n = index.nrSectors[i]!;
    if (f & Flag.FLUSH) counts.flushes++;
    if (f & Flag.FUA) counts.fuas++;
    if (f & Flag.METADATA) counts.metadata++;
    if (f & Flag.MARK) counts.marks++;
    if (f & Flag.DISCARD) {
      counts.discards++;
      counts.discardedBytes += n * index.sectorSize;
    } else if (n > 0) {
      counts.writes++;
      counts.bytes += payloadLength(index, i);
    }
    if (n > 0) {
      starts.push(index.sector[i]!);
      ends.push(index.sector[i]! + n);
    }
  }
  const entries = Math.max(0, hi - lo + 1);
  return {
    from: lo,
    to: hi,
    entries,
    ...counts,
    sectorsTouched: unionLength(starts, ends),
    pastEnd: Math.max(0, Math.min(entries, hi - Math.max(lo, index.nrEntries) + 1)),
  };
}

/** One step per mark (from the entry after the previous mark up to the mark), then the entries after the last mark, if any. */
export function markSteps(index: LogIndex): MarkStep[] {
  const steps: MarkStep[] = [];
  let from = 0;
  for (const mark of index.marks) {
    steps.push({ ...stepStats(index, from, mark.index), mark });
    from = mark.index + 1;
  }
  if (from < index.count) steps.push(stepStats(index, from, index.count - 1));
  return steps;
}

/** Total length of the union of the intervals [starts[k], ends[k]). */
function unionLength(starts: number[], ends: number[]): number {
  const order = Array.from(starts.keys()).sort((a, b) => starts[a]! - starts[b]!);
  let total = 0;
  let runStart = -1;
  let runEnd = -1;
  for (const k of order) {
    if (starts[k]! > runEnd) {
      total += runEnd - runStart;
      runStart = starts[k]!;
      runEnd = ends[k]!;
    } else runEnd = Math.max(runEnd, ends[k]!);
  }
  return total + (runEnd - runStart);
}
