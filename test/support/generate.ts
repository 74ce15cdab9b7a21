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
    if (spec.markEvery && (i + 1) % spec.markEvery === 0)
      entry({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: `m${i + 1}` });
  }
  entry({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'end' });
  flush();
  fs.writeSync(fd, encodeSuper({ nrEntries: entries, sectorSize: S }), 0, S, 0);
  fs.closeSync(fd);
  return { entries };
}

export interface DiscardSpec {
  sectorSize: number;
  /** Device bytes (a multiple of 4096). */
  deviceBytes: number;
  /** FUA writes; each comes after a few plain writes and discards. */
  steps: number;
  seed?: number;
}

/**
 * A discard-heavy log like a file system's under `-o discard`: a discard of the whole device,
 * mark `mkfs`, then `steps` rounds of writes at sector (not page) offsets, discards of odd
 * offsets and lengths (some over what was just written, some past it), a FLUSH and a FUA
 * write; the log ends with mark `end`.
 */
export function generateDiscardLog(file: string, spec: DiscardSpec): { entries: number } {
  const S = spec.sectorSize;
  const sectors = spec.deviceBytes / S;
  let x = spec.seed ?? 12345;
  const random = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const entries: [Parameters<typeof encodeHeader>[0], Uint8Array?][] = [
    [{ sector: 0, nrSectors: sectors, flags: Flag.DISCARD }],
    [{ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'mkfs' }],
  ];
  let w = 0;
  const write = (flags: number) => {
    const n = 1 + random(Math.max(1, Math.floor(16384 / S)));
    const sector = random(sectors - n);
    entries.push([{ sector, nrSectors: n, flags }, payloadOf(w++, n * S)]);
    return sector;
  };
  for (let step = 0; step < spec.steps; step++) {
    for (let i = 0; i < 3; i++) write(0);
    for (let i = 0; i < 3; i++) {
      const n = 1 + random(i === 2 ? 2048 : 64);
      const at = i === 0 ? write(0) + random(4) : random(sectors - n);
      entries.push([{ sector: Math.min(at, sectors - n), nrSectors: n, flags: Flag.DISCARD }]);
    }
    entries.push([{ sector: 0, nrSectors: 0, flags: Flag.FLUSH }]);
    write(Flag.FUA);
  }
  entries.push([{ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'end' }]);
  const fd = fs.openSync(file, 'w');
  let at = S;
  for (const [h, payload] of entries) {
    at += fs.writeSync(fd, encodeHeader(h, S), 0, S, at);
    if (payload) at += fs.writeSync(fd, payload, 0, payload.length, at);
  }
  fs.writeSync(fd, encodeSuper({ nrEntries: entries.length, sectorSize: S }), 0, S, 0);
  fs.closeSync(fd);
  return { entries: entries.length };
}
