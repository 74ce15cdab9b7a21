// A forward, streaming reader of dm-log-writes logs over any random-access byte source.
//
// One pass, few reads: where entries are small the log is read in large chunks and every
// header in a chunk is parsed from memory; where payloads are large and the caller does not
// want them, only the header sectors are read (what upstream's seek-over-payload wins on).
// Entries come in batches that share one buffer, so a caller pays one await per chunk.

import {
  decodeHeader,
  decodeSuper,
  LogFormatError,
  payloadBytes,
  SUPER_BYTES,
  type EntryHeader,
  type LogSuper,
} from './format.ts';

/** Random access to the bytes of a log: a file, a block device, a Blob, an HTTP resource. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset + length); fewer only where the source ends. */
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
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

const DEFAULT_CHUNK = 8 * 1024 * 1024;
/** Past this many bytes per entry, reading only header sectors beats reading everything. */
const HEADER_ONLY_STRIDE = 32 * 1024;

export class LogReader {
  private constructor(
    readonly source: ByteSource,
    readonly super_: LogSuper,
  ) {}

  static async open(source: ByteSource): Promise<LogReader> {
    const head = await source.read(0, Math.min(source.size, SUPER_BYTES));
    const sb = decodeSuper(head);
    if (source.size < sb.sectorSize) {
      throw new LogFormatError(0, `truncated super: log is ${source.size} bytes, sectorsize is ${sb.sectorSize}`);
    }
    return new LogReader(source, sb);
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
   * Walk entries forward in batches. A malformed or truncated entry within nr_entries throws a
   * LogFormatError after every good entry before it was yielded; past nr_entries (`pastEnd`) it
   * simply ends the walk, since that is where a live or crashed log stops.
   */
  async *batches(opts: WalkOptions = {}): AsyncGenerator<Batch> {
    const S = this.sectorSize;
    const size = this.source.size;
    const chunk = Math.max(opts.chunkSize ?? DEFAULT_CHUNK, S);
    let { index, offset: pos } = opts.from ?? this.first;
    let bytes: Uint8Array = new Uint8Array(0);
    let base = pos;
    let stride = 0;
    let entries: Entry[] = [];
    const counted = (i: number) => i < this.nrEntries;
    while (opts.pastEnd || counted(index)) {
      if (pos + S > base + bytes.length) {
        if (entries.length) yield { entries, bytes, base };
        entries = [];
        if (pos + S > size) {
          if (!counted(index)) return;
          throw new LogFormatError(pos, `truncated log: header needs bytes up to ${pos + S}, log ends at ${size}`, index, 'truncated-header');
        }
        const want = !opts.payloads && stride >= HEADER_ONLY_STRIDE ? S : chunk;
        bytes = await this.source.read(pos, Math.min(want, size - pos));
        base = pos;
      }
      let header: EntryHeader;
      try {
        header = decodeHeader(bytes.subarray(pos - base, pos - base + S), S, pos, index, opts.checkPadding);
      } catch (e) {
        if (counted(index)) {
          if (entries.length) yield { entries, bytes, base };
          throw e;
        }
        break;
      }
      const payloadLength = payloadBytes(header, S);
      const next = pos + S + payloadLength;
      if (opts.payloads && next > size) {
        if (!counted(index)) break;
        if (entries.length) yield { entries, bytes, base };
        throw new LogFormatError(pos, `truncated payload: ${payloadLength} bytes need the log to reach byte ${next}, it ends at ${size}`, index, 'truncated-payload');
      }
      entries.push({ ...header, index, offset: pos, payloadOffset: pos + S, payloadLength });
      stride = next - pos;
      pos = next;
      index++;
    }
    if (entries.length) yield { entries, bytes, base };
  }

  /** Every entry in order, one at a time (convenient; `batches` is the fast path). */
  async *entries(opts: WalkOptions = {}): AsyncGenerator<Entry> {
    for await (const b of this.batches(opts)) yield* b.entries;
  }

  /**
   * An entry's payload in pieces of at most `maxPiece` bytes, taken from the batch buffer
   * where it is there and read from the source where it is not.
   */
  async *payload(entry: Entry, batch?: Batch, maxPiece = DEFAULT_CHUNK): AsyncGenerator<Uint8Array> {
    const start = entry.payloadOffset;
    const end = start + entry.payloadLength;
    if (batch && start >= batch.base && end <= batch.base + batch.bytes.length) {
      if (end > start) yield batch.bytes.subarray(start - batch.base, end - batch.base);
      return;
    }
    for (let at = start; at < end; at += maxPiece) {
      const len = Math.min(maxPiece, end - at);
      const piece = await this.source.read(at, len);
      if (piece.length < len) {
        throw new LogFormatError(entry.offset, `truncated payload: log ends at byte ${at + piece.length}`, entry.index, 'truncated-payload');
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
