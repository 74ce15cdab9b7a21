// Synthetic logs of any size, written straight to a file in large appends.
import * as fs from 'node:fs';
import { encodeHeader, encodeSuper, Flag } from '../../src/format.ts';

export interface GenSpec {
  sectorSize: number;
  writes: number;
  /** Bytes per write (a multiple of sectorSize). */
  writeBytes: number;
  /** Where write i lands, in sectors. */
  sectorOf: (i: number) => number;
  /** A FLUSH entry after every this many writes (0: none). */
  flushEvery?: number;
  /** A mark `m<i>` after every this many writes (0: none); the log always ends with mark `end`. */
  markEvery?: number;
}

/** Payload of write i: its number repeated, so every write is distinct and checkable. */
export function payloadOf(i: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let o = 0; o < bytes; o += 4) b.writeUInt32LE((i * 2654435761 + o) >>> 0, o);
  return b;
}

export function generateLog(file: string, spec: GenSpec): { entries: number } {
  const S = spec.sectorSize;
  const fd = fs.openSync(file, 'w');
  let entries = 0;
  let flushedTo = S;
  const chunks: Uint8Array[] = [];
  let pending = 0;
  const put = (b: Uint8Array) => {
    chunks.push(b);
    pending += b.length;
    if (pending >= 8 << 20) flush();
  };
  const flush = () => {
    fs.writevSync(fd, chunks, flushedTo);
    flushedTo += pending;
    chunks.length = 0;
    pending = 0;
  };
  const entry = (h: Parameters<typeof encodeHeader>[0], payload?: Uint8Array) => {
    put(encodeHeader(h, S));
    if (payload) put(payload);
    entries++;
  };
  for (let i = 0; i < spec.writes; i++) {
    entry({ sector: spec.sectorOf(i), nrSectors: spec.writeBytes / S, flags: 0 }, payloadOf(i, spec.writeBytes));
    if (spec.flushEvery && (i + 1) % spec.flushEvery === 0) entry({ sector: 0, nrSectors: 0, flags: Flag.FLUSH });
    if (spec.markEvery && (i + 1) % spec.markEvery === 0) entry({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: `m${i + 1}` });
  }
  entry({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'end' });
  flush();
  fs.writeSync(fd, encodeSuper({ nrEntries: entries, sectorSize: S }), 0, S, 0);
  fs.closeSync(fd);
  return { entries };
}
