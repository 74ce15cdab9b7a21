// An index of a log built in one pass: one typed-array column per header field instead of one
// object per entry, so 260 000 entries cost about 7 MB, cross from a worker to a page without
// a copy, and can be scanned in tight loops. With it, starting at an entry or a mark is a
// lookup: `positionOf` gives the place LogReader.batches({ from }) resumes at.

import { Flag, flagNames, hasUnknownFlags, type FlagName } from '../format.ts';
import type { Entry, Position } from '../reader.ts';
import type { Point } from '../range.ts';

export interface MarkRef {
  readonly index: number;
  readonly text: string;
}

/** Something the reader met that a careful user wants to know about. */
export interface Warning {
  /** Absent for problems with the super or the log as a whole. */
  readonly entry?: number;
  readonly offset: number;
  readonly message: string;
}

export interface Summary {
  readonly name: string;
  readonly logBytes: number;
  readonly version: number;
  readonly sectorSize: number;
  /** Entries the super counts. */
  readonly nrEntries: number;
  /** Entries found by walking, trailing ones (past nrEntries) included. */
  readonly entries: number;
  readonly trailing: number;
  readonly flagCounts: Readonly<Record<FlagName, number>>;
  readonly payloadBytes: number;
  /** Bytes the discards zero on the device (they carry no payload). */
  readonly discardedBytes: number;
  /** One past the highest device sector written or discarded, in log sectors. */
  readonly deviceSectors: number;
  /** Log bytes covered by the walk so far (where the next header would start). */
  readonly bytesIndexed: number;
  readonly marks: number;
  /** The first and last mark's text (undefined when there are none). */
  readonly firstMark?: string;
  readonly lastMark?: string;
  readonly warnings: readonly Warning[];
  readonly complete: boolean;
}

/** The columns, as they cross the worker boundary (plain data, transferable buffers). */
export interface LogIndex {
  readonly count: number;
  readonly sectorSize: number;
  readonly nrEntries: number;
  /** Byte offset of each entry's header in the log. */
  readonly offset: Float64Array;
  readonly sector: Float64Array;
  readonly nrSectors: Float64Array;
  /** Low 32 bits of the flags; the rare high bits are in `highFlags`. */
  readonly flags: Uint32Array;
  readonly marks: readonly MarkRef[];
  readonly highFlags: ReadonlyMap<number, number>;
}

const FLAG_NAMES = Object.keys(Flag) as FlagName[];

export function emptyCounts(): Record<FlagName, number> {
  return Object.fromEntries(FLAG_NAMES.map((n) => [n, 0])) as Record<FlagName, number>;
}

/**
 * The running summary of a walk: what `info` prints and the viewer's summary panel shows, one
 * computation for both. It keeps no per-entry columns (IndexBuilder adds those), so a walk
 * that needs only the figures costs no memory per entry.
 */
export class LogTally {
  private n = 0;
  private readonly counts = emptyCounts();
  private readonly warnings: Warning[] = [];
  private payload = 0;
  private discarded = 0;
  private deviceSectors = 0;
  private marks = 0;
  private firstMark: string | undefined;
  private lastMark: string | undefined;
  private firstTrailing = 0;
  private end: number;
  private cutOff = false;

  constructor(
    private readonly name: string,
    private readonly logBytes: number,
    private readonly sectorSize: number,
    private readonly nrEntries: number,
  ) {
    this.end = Math.min(sectorSize, logBytes);
  }

  get count(): number {
    return this.n;
  }

  add(e: Entry): void {
    const i = this.n++;
    if (i === this.nrEntries) this.firstTrailing = e.offset;
    for (const name of FLAG_NAMES) if (e.flags & Flag[name]) this.counts[name]++;
    if (hasUnknownFlags(e.flags, e.flagsHigh))
      this.warn({ entry: i, offset: e.offset, message: `unknown flag bits (${flagNames(e.flags, e.flagsHigh)})` });
    if (e.mark !== undefined) {
      this.marks++;
      this.firstMark ??= e.mark;
      this.lastMark = e.mark;
    }
    if (e.nrSectors > 0) this.deviceSectors = Math.max(this.deviceSectors, e.sector + e.nrSectors);
    if (e.flags & Flag.DISCARD) this.discarded += e.nrSectors * this.sectorSize;
    // Large payloads are skipped, not read, so the file can end inside one: count what is
    // there and say what is missing, so no figure exceeds the file.
    const end = e.payloadOffset + e.payloadLength;
    if (end > this.logBytes) {
      this.warn({
        entry: i,
        offset: e.offset,
        message: `payload cut off: ${e.payloadLength} bytes from byte ${e.payloadOffset}, but the log ends at byte ${this.logBytes} (${end - this.logBytes} bytes missing)`,
      });
      this.cutOff = true;
    }
    this.payload += Math.max(0, Math.min(end, this.logBytes) - e.payloadOffset);
    this.end = Math.min(end, this.logBytes);
  }

  warn(problem: Warning): void {
    let w = problem;
    if (w.offset > this.logBytes) {
      // Past a payload cut off by the file's end, the next header is not in the file either:
      // that is the same problem, already named at a real offset. Otherwise the problem shows
      // where the file ends (a header expected past it), which is the place to name.
      if (this.cutOff) return;
      w = { ...w, offset: this.logBytes };
    }
    // A forged log could repeat a problem per entry; a hundred say enough.
    if (this.warnings.length < 100) this.warnings.push(w);
  }

  summary(complete: boolean): Summary {
    const trailing = Math.max(0, this.n - this.nrEntries);
    const warnings = [...this.warnings];
    if (complete && trailing) {
      warnings.push({
        entry: this.nrEntries,
        offset: this.firstTrailing,
        message: `${trailing} valid entr${trailing === 1 ? 'y' : 'ies'} past nr_entries (the super was not rewritten after them: a live or crashed log)`,
      });
    }
    return {
      name: this.name,
      logBytes: this.logBytes,
      version: 1,
      sectorSize: this.sectorSize,
      nrEntries: this.nrEntries,
      entries: this.n,
      trailing,
      flagCounts: { ...this.counts },
      payloadBytes: this.payload,
      discardedBytes: this.discarded,
      deviceSectors: this.deviceSectors,
      bytesIndexed: this.end,
      marks: this.marks,
      ...(this.firstMark === undefined ? {} : { firstMark: this.firstMark, lastMark: this.lastMark! }),
      warnings,
      complete,
    };
  }
}

/** Grows the columns by doubling; the running summary is a LogTally's. */
export class IndexBuilder {
  private cap = 4096;
  private n = 0;
  private offset = new Float64Array(this.cap);
  private sector = new Float64Array(this.cap);
  private nrSectors = new Float64Array(this.cap);
  private flags = new Uint32Array(this.cap);
  private readonly marks: MarkRef[] = [];
  private readonly highFlags = new Map<number, number>();
  private readonly tally: LogTally;

  constructor(
    name: string,
    logBytes: number,
    private readonly sectorSize: number,
    private readonly nrEntries: number,
  ) {
    this.tally = new LogTally(name, logBytes, sectorSize, nrEntries);
  }

  get count(): number {
    return this.n;
  }

  add(e: Entry): void {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.offset[i] = e.offset;
    this.sector[i] = e.sector;
    this.nrSectors[i] = e.nrSectors;
    this.flags[i] = e.flags;
    if (e.flagsHigh) this.highFlags.set(i, e.flagsHigh);
    if (e.mark !== undefined) this.marks.push({ index: i, text: e.mark });
    this.tally.add(e);
  }

  warn(problem: Warning): void {
    this.tally.warn(problem);
  }

  private grow(): void {
    this.cap *= 2;
    const widen = <T extends Float64Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const next = make(this.cap);
      next.set(old);
      return next;
    };
    this.offset = widen(this.offset, (n) => new Float64Array(n));
    this.sector = widen(this.sector, (n) => new Float64Array(n));
    this.nrSectors = widen(this.nrSectors, (n) => new Float64Array(n));
    this.flags = widen(this.flags, (n) => new Uint32Array(n));
  }

  summary(complete: boolean): Summary {
    return this.tally.summary(complete);
  }

  /** The finished index, trimmed to size (the copy is cheap next to the walk). */
  finish(): LogIndex {
    const n = this.n;
    return {
      count: n,
      sectorSize: this.sectorSize,
      nrEntries: this.nrEntries,
      offset: this.offset.slice(0, n),
      sector: this.sector.slice(0, n),
      nrSectors: this.nrSectors.slice(0, n),
      flags: this.flags.slice(0, n),
      marks: this.marks,
      highFlags: this.highFlags,
    };
  }
}

/** Buffers to transfer (not copy) when posting an index. */
export function indexBuffers(index: LogIndex): ArrayBuffer[] {
  return [index.offset, index.sector, index.nrSectors, index.flags].map((a) => a.buffer as ArrayBuffer);
}

/** Payload bytes stored for entry `i`. */
export function payloadLength(index: LogIndex, i: number): number {
  return index.flags[i]! & Flag.DISCARD ? 0 : index.nrSectors[i]! * index.sectorSize;
}

export function entryFlagNames(index: LogIndex, i: number): string {
  return flagNames(index.flags[i]!, index.highFlags.get(i) ?? 0);
}

/** The first entry whose header starts at or after `offset` (binary search on the offset column). */
export function entryAtOrAfter(index: LogIndex, offset: number): number {
  let lo = 0;
  let hi = index.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (index.offset[mid]! < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where entry `i` starts, for LogReader.batches({ from }). */
export function positionOf(index: LogIndex, i: number): Position {
  if (!(i >= 0 && i < index.count)) throw new RangeError(`entry ${i} is not in the index (0..${index.count - 1})`);
  return { index: i, offset: index.offset[i]! };
}

/** The entry of the first mark with this text, or -1. */
export const markEntry = (index: LogIndex, text: string): number => pointEntry(index, { mark: text });

/** The entry a point names (`end`: the last indexed; `mark:NAME#n`: its nth occurrence), or -1. */
export function pointEntry(index: LogIndex, p: Point): number {
  if ('entry' in p) return p.entry;
  if ('end' in p) return index.count - 1;
  return index.marks.filter((m) => m.text === p.mark)[(p.nth ?? 1) - 1]?.index ?? -1;
}

/** The first entry at or after `from` with any of `flags`, or -1. */
export function nextWithFlags(index: LogIndex, from: number, flags: number): number {
  for (let i = Math.max(0, from); i < index.count; i++) if (index.flags[i]! & flags) return i;
  return -1;
}
