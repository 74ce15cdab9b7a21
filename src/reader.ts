// A forward, streaming reader of dm-log-writes logs over any random-access byte source.
//
// One pass, few reads: where entries are small the log is read in large chunks and every
// header in a chunk is parsed from memory; where payloads are large and the caller does not
// want them, only the header sectors are read (what upstream's seek-over-payload wins on).
// The hot paths (mark search, replay) walk with an EntryCursor, which decodes each header in
// place and allocates nothing per entry; `batches` and `entries` wrap it in objects.

import {
  decodeHeader,
  decodeSuper,
  Flag,
  HEADER_BYTES,
  HeaderField,
  SUPER_BYTES,
  type EntryHeader,
  type LogSuper,
} from './format.ts';
import { LogFormatError, truncatedPayload } from './errors.ts';

/** Random access to the bytes of a log: a file, a block device, a Blob, an HTTP resource. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset + length); fewer only where the source ends. */
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional: fill `into` with the bytes from `offset` at once and return how many there were
   * (fewer only where the source ends). Lets a walk reuse one buffer instead of a new one per read.
   */
  readInto?(offset: number, into: Uint8Array): number;
  /** Optional: readInto on another thread, so that the caller can go on meanwhile (CursorOptions.readAhead). */
  readIntoLater?(offset: number, into: Uint8Array): Promise<number>;
  /**
   * Optional: bytes [offset, offset + length) where they lie, without a copy (a log mapped into
   * memory), valid until the source closes; fewer only where the source ends. A walk that
   * reuses its buffer then reads the headers in place instead of copying the whole log.
   */
  view?(offset: number, length: number): Uint8Array;
}

export interface Entry extends EntryHeader {
  readonly index: number;
  /** Byte offset of the header sector in the log. */
  readonly offset: number;
  /** Byte offset of the payload (right after the header sector). */
  readonly payloadOffset: number;
  /** Bytes of payload stored in the log (0 for discards and marks). */
  readonly payloadLength: number;
}

/** Entries that share one read buffer covering log bytes [base, base + bytes.length). */
export interface Batch {
  readonly entries: readonly Entry[];
  readonly bytes: Uint8Array;
  readonly base: number;
}

/** A place to start walking: entry `index` whose header is at byte `offset`. */
export interface Position {
  readonly index: number;
  readonly offset: number;
}

export interface WalkOptions {
  /** Start here instead of at entry 0 (positions come from a LogIndex or a previous walk). */
  from?: Position;
  /** The caller will read payloads: read them along with the headers. */
  payloads?: boolean;
  /** Go on past nr_entries while headers stay valid: the entries the super does not count yet. */
  pastEnd?: boolean;
  /** Check every padding byte of every header. */
  checkPadding?: boolean;
  /** Bytes per read where entries are small. */
  chunkSize?: number;
}

export interface CursorOptions extends WalkOptions {
  /**
   * Read into one buffer over and over (sources with `readInto`), or in place (sources with
   * `view`): views of the buffer (header, payload) are then valid only until the next `fill`.
   */
  reuseBuffer?: boolean;
  /**
   * With reuseBuffer, on a source with readIntoLater: where the log is read in chunks, read
   * the next chunk while this one is parsed (into a second buffer), where the walk finds that
   * this pays (or as an AheadChoice of the caller's says). `fill` then returns a promise.
   */
  readAhead?: boolean | AheadChoice;
}

/** What `advance` found: an entry (now current), the end of the walk, or a read to do first. */
export const Advance = { Entry: 0, End: 1, Read: 2 } as const;
export type Advance = (typeof Advance)[keyof typeof Advance];

const DEFAULT_CHUNK = 1024 * 1024;
/** Past this many bytes per entry, reading only header sectors beats reading everything. */
const HEADER_ONLY_STRIDE = 32 * 1024;
/** A header-only read: one page, so entries without payload that follow come along. */
const HEADER_READ = 4096;
/** Payloads up to this size are read into the cursor's buffer with their header; larger ones stream. */
const MAX_INLINE = 64 * 1024 * 1024;
const U32 = 0x1_0000_0000;
/** Room in front of a chunk read ahead for the end of the chunk before it: a header cut in two, or a small entry. */
const AHEAD_ROOM = 64 * 1024;

/**
 * Whether a walk reads ahead, found out by the walk itself. On one machine it paid: bench/raw's
 * 1.1 GiB scan, whose copying and parsing each took about half of it, went from 476 ms to
 * ~300 ms overlapped on two cores. On another, which copies from the page cache at ~12 GB/s and
 * hands work to a thread and back slowly, the same walk took 85-98 ms plain and 164-168 ms
 * reading ahead (1 MiB chunks, medians of 5), and replay-log's full replay of bench/raw's log
 * 1.66 s reading ahead, 1.60 s choosing (medians of 10 interleaved). So after a first group of
 * chunks (the JIT's warm-up), groups of GROUP chunks alternate between the two ways until each
 * has had PROBE chunks; the rest of the walk goes the way that took less time per byte. The
 * time of a chunk runs from its fill to the next, so it holds the caller's work on it too,
 * which the read ahead overlaps.
 */
export class AheadChoice {
  static readonly GROUP = 4;
  static readonly PROBE = 16;
  /** The fill at which the probe is over. */
  private static readonly PROBED = AheadChoice.GROUP + 2 * AheadChoice.PROBE;
  private fills = 0;
  /** The fill before: when, which way, and whether the one before it went the same way. */
  private last: { at: number; ahead: boolean; settled: boolean } | undefined;
  private readonly spent = [0, 0];
  private readonly bytes = [0, 0];
  private decided: boolean | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Whether this fill reads ahead; `took`: the bytes the fill before it brought. */
  next(took: number): boolean {
    if (this.decided !== undefined) return this.decided;
    const at = this.now();
    const l = this.last;
    // The first fill of a group is left out: it reads without a chunk read ahead, or takes the
    // one the group before read.
    if (l?.settled && this.fills > AheadChoice.GROUP) {
      this.spent[+l.ahead]! += at - l.at;
      this.bytes[+l.ahead]! += took;
    }
    const n = this.fills++;
    if (n === AheadChoice.PROBED)
      return (this.decided = this.spent[1]! * this.bytes[0]! < this.spent[0]! * this.bytes[1]!);
    const ahead = Math.floor(n / AheadChoice.GROUP) % 2 === 1;
    this.last = { at, ahead, settled: l?.ahead === ahead };
    return ahead;
  }

  /** The way the walk goes after its probe, once that is over. */
  get choice(): 'ahead' | 'plain' | undefined {
    return this.decided === undefined ? undefined : this.decided ? 'ahead' : 'plain';
  }
}

/**
 * The entry under the cursor, decoded in place. It is itself an Entry, valid until the next
 * `advance`: callers that keep an entry take a `snapshot()`.
 */
export class EntryCursor implements Entry {
  index = -1;
  offset = 0;
  sector = 0;
  nrSectors = 0;
  flags = 0;
  flagsHigh = 0;
  dataLen = 0;
  /** MARK text, decoded as the entry is reached (marks are rare, and a snapshot needs it later). */
  mark: string | undefined = undefined;
  payloadOffset = 0;
  payloadLength = 0;
  /** Whether the current entry's payload is in `buffer` (else read it with `LogReader.payload`). */
  payloadInBuffer = false;
  /** Log bytes [base, base + length) are in buffer[0, length). */
  buffer: Uint8Array = new Uint8Array(0);
  base = 0;
  length = 0;

  private pos: number;
  private next: number;
  private need = 0;
  private readonly S: number;
  private size: number;
  private readonly counted: number;
  private readonly chunk: number;
  /** Chunks are views of the source (reuseBuffer over a source with `view`): no reads, no copies. */
  private readonly inPlace: boolean;
  private consumedSinceFill = 0;
  private entriesSinceFill = 0;
  private smallStrides = true;
  /** readAhead's two buffers (AHEAD_ROOM bytes in front of each chunk), the one `buffer` views, and the chunk being read into the other. */
  private readonly buffers: (Uint8Array | undefined)[] = [undefined, undefined];
  private current = 0;
  private ahead: { start: number; want: number; into: Uint8Array; got: Promise<number> } | undefined;
  /** With readAhead: whether it pays, found out as the walk goes. */
  readonly aheadChoice: AheadChoice | undefined;

  constructor(
    private readonly source: ByteSource,
    sb: LogSuper,
    private readonly opts: CursorOptions = {},
    /** Told where the counted entries end, when a walk gets there with all of them whole. */
    private readonly reachedEnd?: (end: Position) => void,
  ) {
    this.S = sb.sectorSize;
    this.size = source.size;
    this.counted = sb.nrEntries;
    this.chunk = Math.max(opts.chunkSize ?? DEFAULT_CHUNK, this.S);
    this.inPlace = !!(opts.reuseBuffer && source.view);
    const { readAhead } = opts;
    if (readAhead && opts.reuseBuffer && !this.inPlace && source.readIntoLater)
      this.aheadChoice = readAhead instanceof AheadChoice ? readAhead : new AheadChoice();
    const from = opts.from ?? { index: 0, offset: this.S };
    this.next = from.index;
    this.pos = from.offset;
  }

  /** Where the walk goes on: the entry after the current one. */
  get position(): Position {
    return { index: this.next, offset: this.pos };
  }

  /** Decode the next entry if its bytes are in the buffer; a malformed counted entry throws. */
  advance(): Advance {
    const S = this.S;
    const pos = this.pos;
    const counted = this.next < this.counted;
    if (this.next === this.counted && pos <= this.size) this.reachedEnd?.({ index: this.next, offset: pos });
    if (!counted && !this.opts.pastEnd) return Advance.End;
    if (pos + S > this.size) {
      if (!counted) return Advance.End;
      throw new LogFormatError(
        pos,
        `truncated log: header needs bytes up to ${pos + S}, log ends at ${this.size}`,
        this.next,
        'truncated-header',
      );
    }
    const at = pos - this.base;
    if (at < 0 || pos + S > this.base + this.length) return this.wantRead(pos + S);
    const b = this.buffer;
    // The common header is read straight from the bytes; anything unusual (marks, zeroed or
    // unpadded sectors, lengths past 2^53) goes through decodeHeader, which has the rules.
    const nrLo = u32(b, at + HeaderField.NR_SECTORS);
    const nrHi = u32(b, at + HeaderField.NR_SECTORS + 4);
    const flags = u32(b, at + HeaderField.FLAGS);
    const flagsHigh = u32(b, at + HeaderField.FLAGS + 4);
    const sector = u32(b, at + HeaderField.SECTOR + 4) * U32 + u32(b, at + HeaderField.SECTOR);
    const nrSectors = nrHi * U32 + nrLo;
    const plain =
      (flags | flagsHigh | nrLo | nrHi) !== 0 &&
      (flags & Flag.MARK) === 0 &&
      b[at + HEADER_BYTES] === 0 &&
      (sector + nrSectors) * S <= Number.MAX_SAFE_INTEGER &&
      !this.opts.checkPadding;
    let dataLen = u32(b, at + HeaderField.DATA_LEN + 4) * U32 + u32(b, at + HeaderField.DATA_LEN);
    let mark: string | undefined;
    if (!plain) {
      try {
        ({ dataLen, mark } = decodeHeader(b.subarray(at, at + S), S, pos, this.next, this.opts.checkPadding));
      } catch (e) {
        if (counted) throw e;
        return Advance.End;
      }
    }
    const payloadLength = flags & Flag.DISCARD ? 0 : nrSectors * S;
    const end = pos + S + payloadLength;
    let inBuffer = end <= this.base + this.length;
    if (end > this.size) {
      // A trailing entry without all its payload is where a live log stops; a counted one
      // is truncated, which the caller learns when it reads the payload.
      if (!counted) return Advance.End;
    } else if (this.opts.payloads && !inBuffer && S + payloadLength <= MAX_INLINE) {
      return this.wantRead(end);
    }
    this.index = this.next;
    this.offset = pos;
    this.sector = sector;
    this.nrSectors = nrSectors;
    this.flags = flags;
    this.flagsHigh = flagsHigh;
    this.dataLen = dataLen;
    this.mark = mark;
    this.payloadOffset = pos + S;
    this.payloadLength = payloadLength;
    this.payloadInBuffer = inBuffer;
    this.pos = end;
    this.next++;
    this.consumedSinceFill += end - pos;
    this.entriesSinceFill++;
    return Advance.Entry;
  }

  private wantRead(need: number): Advance {
    this.need = need;
    return Advance.Read;
  }

  /** Read what the last `advance` asked for (synchronously where the source can). */
  fill(): void | Promise<void> {
    if (this.entriesSinceFill) this.smallStrides = this.consumedSinceFill / this.entriesSinceFill < HEADER_ONLY_STRIDE;
    this.consumedSinceFill = 0;
    this.entriesSinceFill = 0;
    const pos = this.pos;
    const source = this.source;
    // In place, a chunk costs the same whatever the strides: no header-only reads then.
    const usual = this.inPlace || this.opts.payloads || this.smallStrides ? this.chunk : Math.max(HEADER_READ, this.S);
    const want = Math.min(Math.max(usual, this.need - pos), this.size - pos);
    if (this.inPlace) return this.take(pos, source.view!(pos, want));
    if (this.aheadChoice) {
      const ahead = this.aheadChoice.next(this.length);
      // A chunk read ahead is used even where the walk goes on plainly.
      if (ahead || this.ahead) return this.fillAhead(pos, want, ahead);
    }
    if (source.readInto) {
      if (!this.opts.reuseBuffer || this.buffer.length < want)
        this.buffer = new Uint8Array(this.opts.reuseBuffer ? Math.max(want, this.chunk) : want);
      this.took(pos, source.readInto(pos, this.buffer.subarray(0, want)));
      return;
    }
    const got = source.read(pos, want);
    if (got instanceof Uint8Array) return this.take(pos, got);
    return got.then((bytes) => this.take(pos, bytes));
  }

  /**
   * fill with reading ahead: the chunk after the buffer's end is read while the buffer is
   * parsed. It serves the next fill when that wants bytes from within it, the few bytes
   * before it (a header cut by the chunk's end) copied in front of it from the buffer.
   */
  private async fillAhead(pos: number, want: number, readOn: boolean): Promise<void> {
    const a = this.ahead;
    this.ahead = undefined;
    const got = a ? await a.got : 0;
    const tail = a ? a.start - pos : 0;
    if (a && tail <= AHEAD_ROOM && pos < a.start + got && (a.start + got >= this.need || got < a.want)) {
      if (tail > 0) a.into.set(this.buffer.subarray(pos - this.base, a.start - this.base), AHEAD_ROOM - tail);
      this.buffer = a.into.subarray(AHEAD_ROOM - Math.max(tail, 0));
      this.took(Math.min(pos, a.start), Math.max(tail, 0) + got);
    } else {
      this.buffer = this.otherBuffer(want).subarray(AHEAD_ROOM);
      this.took(pos, this.source.readInto!(pos, this.buffer.subarray(0, want)));
    }
    this.current ^= 1;
    if (readOn) this.readNext();
  }

  /** Start reading the chunk after the buffer into the other buffer, where the walk reads chunks. */
  private readNext(): void {
    const start = this.base + this.length;
    const want = Math.min(this.chunk, this.size - start);
    if (want <= 0 || !(this.opts.payloads || this.smallStrides)) return;
    const into = this.otherBuffer(want);
    const got = this.source.readIntoLater!(start, into.subarray(AHEAD_ROOM, AHEAD_ROOM + want));
    // A walk that ends first never awaits it: its failure must not go unhandled.
    got.catch(() => {});
    this.ahead = { start, want, into, got };
  }

  /** The buffer `buffer` does not view, with room for AHEAD_ROOM + `want` bytes. */
  private otherBuffer(want: number): Uint8Array {
    const other = this.buffers[this.current ^ 1];
    if (other && other.length >= AHEAD_ROOM + want) return other;
    return (this.buffers[this.current ^ 1] = new Uint8Array(AHEAD_ROOM + Math.max(want, this.chunk)));
  }

  private take(pos: number, bytes: Uint8Array): void {
    this.buffer = bytes;
    this.took(pos, bytes.length);
  }

  private took(pos: number, length: number): void {
    this.base = pos;
    this.length = length;
    // A source that ends early (a file shrinking under us) shows up as truncation next time.
    if (pos + length < this.need) this.size = pos + length;
  }

  /** The current header sector (a view into the buffer). */
  header(): Uint8Array {
    const at = this.offset - this.base;
    return this.buffer.subarray(at, at + this.S);
  }

  /** The current payload when it is in the buffer (a view), else undefined. */
  payload(): Uint8Array | undefined {
    if (!this.payloadInBuffer) return undefined;
    const at = this.payloadOffset - this.base;
    return this.buffer.subarray(at, at + this.payloadLength);
  }

  /** The current entry as a plain object that stays valid. */
  snapshot(): Entry {
    const e = {
      index: this.index,
      offset: this.offset,
      sector: this.sector,
      nrSectors: this.nrSectors,
      flags: this.flags,
      flagsHigh: this.flagsHigh,
      dataLen: this.dataLen,
      payloadOffset: this.payloadOffset,
      payloadLength: this.payloadLength,
    };
    const mark = this.mark;
    return mark === undefined ? e : { ...e, mark };
  }
}

const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

export class LogReader {
  private constructor(
    readonly source: ByteSource,
    readonly super_: LogSuper,
  ) {}

  /**
   * Read and check the super. A log shorter than one sector is accepted here, as upstream
   * does: its first entry then reads as truncated.
   */
  static async open(source: ByteSource): Promise<LogReader> {
    const head = await source.read(0, Math.min(source.size, SUPER_BYTES));
    return new LogReader(source, decodeSuper(head));
  }

  get sectorSize(): number {
    return this.super_.sectorSize;
  }

  get nrEntries(): number {
    return this.super_.nrEntries;
  }

  /** Position of entry 0. */
  get first(): Position {
    return { index: 0, offset: this.super_.sectorSize };
  }

  /**
   * Where the counted entries end, once any walk got there with all of them whole (a log cut
   * inside its last entry never gets one): what looks for entries past them starts here.
   */
  countedEnd: Position | undefined;

  /** A cursor for walking entries one by one without allocating (see EntryCursor). */
  cursor(opts: CursorOptions = {}): EntryCursor {
    return new EntryCursor(this.source, this.super_, opts, (end) => (this.countedEnd ??= end));
  }

  /**
   * Walk entries forward in batches. A malformed or truncated entry within nr_entries throws a
   * LogFormatError after every good entry before it was yielded; past nr_entries (`pastEnd`) it
   * simply ends the walk, since that is where a live or crashed log stops. With `payloads`, an
   * entry whose payload the log does not hold completely is yielded and its payload read throws.
   */
  async *batches(opts: WalkOptions = {}): AsyncGenerator<Batch> {
    const c = this.cursor(opts);
    let entries: Entry[] = [];
    const batch = () => {
      const b = { entries, bytes: c.buffer.subarray(0, c.length), base: c.base };
      entries = [];
      return b;
    };
    for (;;) {
      let step: Advance;
      try {
        step = c.advance();
      } catch (e) {
        if (entries.length) yield batch();
        throw e;
      }
      if (step === Advance.Entry) {
        entries.push(c.snapshot());
        continue;
      }
      if (entries.length) yield batch();
      if (step === Advance.End) return;
      await c.fill();
    }
  }

  /** Every entry in order, one at a time (convenient; `batches` is the fast path). */
  async *entries(opts: WalkOptions = {}): AsyncGenerator<Entry> {
    for await (const b of this.batches(opts)) yield* b.entries;
  }

  /**
   * An entry's payload in pieces of at most `maxPiece` bytes (but at least one sector, and
   * always whole sectors), taken from the batch buffer where it is there and read from the
   * source where it is not.
   */
  async *payload(entry: Entry, batch?: Batch, maxPiece = 8 * 1024 * 1024): AsyncGenerator<Uint8Array> {
    const start = entry.payloadOffset;
    const end = start + entry.payloadLength;
    if (batch && start >= batch.base && end <= batch.base + batch.bytes.length) {
      if (end > start) yield batch.bytes.subarray(start - batch.base, end - batch.base);
      return;
    }
    // Whole sectors per piece, so a consumer can go on sector by sector (a 16 MiB sector is
    // bigger than the default piece).
    const S = this.sectorSize;
    const step = Math.max(S, maxPiece - (maxPiece % S));
    for (let at = start; at < end; at += step) {
      const len = Math.min(step, end - at);
      const piece = await this.source.read(at, len);
      if (piece.length < len) {
        throw truncatedPayload(entry, at + piece.length);
      }
      yield piece;
    }
  }

  /** The whole payload of one entry in one buffer (for inspectors; replay streams instead). */
  async payloadBytes(entry: Entry, batch?: Batch): Promise<Uint8Array> {
    const out = new Uint8Array(entry.payloadLength);
    let at = 0;
    for await (const piece of this.payload(entry, batch)) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }
}

/** A ByteSource over bytes already in memory (tests, small logs, the browser after a fetch). */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
}
