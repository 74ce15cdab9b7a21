// The counted entries of a log known so far, and a cursor that serves them from the index
// columns and walks the log only past them, recording what it meets. A call that starts from
// a stored prefix of the index (src/node/io/index-cache.ts) pays for the entries it reaches
// beyond that prefix, not for the log's length; each walk leaves the prefix longer for the
// next call. The cursor moves as LogReader's EntryCursor does (advance / fill), so walks written
// for one run on the other.

import { Flag, HEADER_BYTES } from '../format.ts';
import { Advance, type EntryCursor, type LogReader, type Position } from '../reader.ts';
import { IndexBuilder, type LogIndex } from './log-index.ts';
import { LogFormatError } from '../errors.ts';

/** What a walk reads of the entry it is on: EntryCursor's surface, served by either cursor. */
export type EntryView = Pick<
  EntryCursor,
  | 'index'
  | 'offset'
  | 'sector'
  | 'nrSectors'
  | 'flags'
  | 'flagsHigh'
  | 'dataLen'
  | 'payloadOffset'
  | 'payloadLength'
  | 'position'
  | 'advance'
  | 'fill'
  | 'header'
>;

export class KnownEntries {
  /** Set once every counted entry is known. */
  complete: boolean;
  /** Entries recorded by walks since the index was loaded (what is worth storing again). */
  added = 0;
  private extension: IndexBuilder | undefined;

  constructor(
    readonly reader: LogReader,
    private base: LogIndex,
    /** Whether walks record what they reach (only worth it when the index is stored). */
    private readonly keeps = true,
  ) {
    this.complete = base.count >= reader.nrEntries;
  }

  /** Nothing known: the first call over a log, or (`keeps` false) a log whose index is not stored. */
  static empty(reader: LogReader, keeps = true): KnownEntries {
    const b = new IndexBuilder('', reader.source.size, reader.sectorSize, reader.nrEntries);
    return new KnownEntries(reader, b.finish(), keeps);
  }

  get count(): number {
    return this.base.count + (this.extension?.count ?? 0);
  }

  /** Everything known, as one index. */
  index(): LogIndex {
    if (this.extension?.count) this.base = appendIndex(this.base, this.extension.finish());
    this.extension = undefined;
    return this.base;
  }

  /**
   * A cursor that goes on from `from` (a position a walk over this log reached). With
   * `readAhead`, its walk past the known entries reads ahead (CursorOptions.readAhead) and
   * must await `fill`.
   */
  cursor(from: Position = this.reader.first, { readAhead = false } = {}): EntryView {
    return new KnownCursor(this, from, readAhead);
  }

  /** Where entry `i` starts, for `i` up to `count` (one past the last known entry). */
  positionOf(i: number): Position {
    if (i === this.count) return this.endPosition();
    const index = this.index();
    if (!(i >= 0 && i < index.count)) throw new RangeError(`entry ${i} is not known (0..${this.count})`);
    return { index: i, offset: index.offset[i]! };
  }

  /** Where the entry after the last known one starts. */
  endPosition(): Position {
    const index = this.index();
    const n = index.count;
    if (!n) return this.reader.first;
    const S = index.sectorSize;
    const payload = index.flags[n - 1]! & Flag.DISCARD ? 0 : index.nrSectors[n - 1]! * S;
    return { index: n, offset: index.offset[n - 1]! + S + payload };
  }

  /**
   * Walk past the known entries to the last counted one, recording them, so that later calls
   * never walk again; a damaged entry stops it there (later walks meet it and say so).
   */
  completeAll(): void {
    if (this.complete) return;
    const c = this.cursor(this.endPosition());
    try {
      for (let step = c.advance(); step !== Advance.End; step = c.advance()) {
        if (step === Advance.Read && c.fill()) throw new TypeError(SYNC_ONLY);
      }
    } catch (e) {
      if (!(e instanceof LogFormatError)) throw e;
    }
  }

  /** Called by the cursor for each entry its live walk reached, in order. */
  record(e: EntryCursor): void {
    if (!this.keeps || e.index !== this.count) return;
    this.extension ??= new IndexBuilder('', this.reader.source.size, this.reader.sectorSize, this.reader.nrEntries);
    this.extension.add(e.snapshot());
    this.added++;
    if (this.count >= this.reader.nrEntries) this.complete = true;
  }
}

/** `a` followed by `b` (whose entry numbers start at 0): the columns of both. */
function appendIndex(a: LogIndex, b: LogIndex): LogIndex {
  const join = <T extends Float64Array | Uint32Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x);
    out.set(y, x.length);
    return out;
  };
  const shift = a.count;
  const highFlags = new Map(a.highFlags);
  for (const [i, f] of b.highFlags) highFlags.set(i + shift, f);
  return {
    count: a.count + b.count,
    sectorSize: a.sectorSize,
    nrEntries: a.nrEntries,
    offset: join(a.offset, b.offset, (n) => new Float64Array(n)),
    sector: join(a.sector, b.sector, (n) => new Float64Array(n)),
    nrSectors: join(a.nrSectors, b.nrSectors, (n) => new Float64Array(n)),
    flags: join(a.flags, b.flags, (n) => new Uint32Array(n)),
    marks: [...a.marks, ...b.marks.map((m) => ({ index: m.index + shift, text: m.text }))],
    highFlags,
  };
}

/** Known entries from the columns; past them, a LogReader cursor whose entries are recorded. */
class KnownCursor implements EntryView {
  index = -1;
  offset = 0;
  sector = 0;
  nrSectors = 0;
  flags = 0;
  flagsHigh = 0;
  payloadOffset = 0;
  payloadLength = 0;
  private next: number;
  private pos: number;
  private columns: LogIndex;
  private live: EntryCursor | undefined;
  private headerBytes: Uint8Array | undefined;

  constructor(
    private readonly known: KnownEntries,
    from: Position,
    private readonly readAhead: boolean,
  ) {
    this.next = from.index;
    this.pos = from.offset;
    this.columns = known.index();
  }

  get position(): Position {
    return this.live ? this.live.position : { index: this.next, offset: this.pos };
  }

  advance(): Advance {
    if (this.live) return this.advanceLive(this.live);
    const i = this.next;
    const c = this.columns;
    if (i >= c.count) {
      if (this.known.complete) return Advance.End;
      const from = { index: i, offset: this.pos };
      this.live = this.known.reader.cursor({ from, reuseBuffer: true, readAhead: this.readAhead });
      return this.advanceLive(this.live);
    }
    const S = c.sectorSize;
    this.index = i;
    this.offset = c.offset[i]!;
    this.sector = c.sector[i]!;
    this.nrSectors = c.nrSectors[i]!;
    this.flags = c.flags[i]!;
    this.flagsHigh = c.highFlags.size ? (c.highFlags.get(i) ?? 0) : 0;
    this.payloadOffset = this.offset + S;
    this.payloadLength = this.flags & Flag.DISCARD ? 0 : this.nrSectors * S;
    this.headerBytes = undefined;
    this.next = i + 1;
    this.pos = this.payloadOffset + this.payloadLength;
    return Advance.Entry;
  }

  private advanceLive(live: EntryCursor): Advance {
    const step = live.advance();
    if (step !== Advance.Entry) return step;
    this.known.record(live);
    this.index = live.index;
    this.offset = live.offset;
    this.sector = live.sector;
    this.nrSectors = live.nrSectors;
    this.flags = live.flags;
    this.flagsHigh = live.flagsHigh;
    this.payloadOffset = live.payloadOffset;
    this.payloadLength = live.payloadLength;
    return step;
  }

  fill(): void | Promise<void> {
    return this.live?.fill();
  }

  /** The entry's header sector (read from the log for an entry the columns served). */
  header(): Uint8Array {
    if (this.live) return this.live.header();
    this.headerBytes ??= readSync(this.known.reader, this.offset, this.columns.sectorSize);
    return this.headerBytes;
  }

  get dataLen(): number {
    if (this.live) return this.live.dataLen;
    const h = this.header();
    const v = new DataView(h.buffer, h.byteOffset + HEADER_BYTES - 8, 8);
    return v.getUint32(4, true) * 2 ** 32 + v.getUint32(0, true);
  }
}

const SYNC_ONLY = 'the entry index reads headers synchronously: its source must read synchronously';

function readSync(reader: LogReader, at: number, length: number): Uint8Array {
  const got = reader.source.read(at, length);
  if (got instanceof Uint8Array) return got;
  throw new TypeError(SYNC_ONLY);
}
