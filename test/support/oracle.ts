// An independent, deliberately naive reading of the format, written straight from FORMAT.md:
// the ground truth that the real reader and replay are compared with.
import * as fs from 'node:fs';

export interface OracleEntry {
  index: number;
  offset: number;
  sector: number;
  nrSectors: number;
  flags: number;
  mark?: string;
  payload?: Buffer;
}

export function oracleRead(path: string): { sectorSize: number; nrEntries: number; entries: OracleEntry[] } {
  const log = fs.readFileSync(path);
  const sectorSize = log.readUInt32LE(24);
  const nrEntries = Number(log.readBigUInt64LE(16));
  const entries: OracleEntry[] = [];
  let pos = sectorSize;
  for (let i = 0; i < nrEntries; i++) {
    const sector = Number(log.readBigUInt64LE(pos));
    const nrSectors = Number(log.readBigUInt64LE(pos + 8));
    const flags = Number(log.readBigUInt64LE(pos + 16));
    const dataLen = Number(log.readBigUInt64LE(pos + 24));
    const e: OracleEntry = { index: i, offset: pos, sector, nrSectors, flags };
    if (flags & 8) e.mark = log.subarray(pos + 32, pos + 32 + dataLen).toString('utf8');
    pos += sectorSize;
    if (!(flags & 4) && nrSectors) {
      e.payload = log.subarray(pos, pos + nrSectors * sectorSize);
      pos += nrSectors * sectorSize;
    }
    entries.push(e);
  }
  return { sectorSize, nrEntries, entries };
}

/** Replay entries [0, end] into a zeroed buffer of `size` bytes (or onto a copy of `initial`). */
export function oracleReplay(path: string, size: number, end = Infinity, initial?: Buffer): Buffer {
  const { sectorSize, entries } = oracleRead(path);
  const dev = initial ? Buffer.from(initial) : Buffer.alloc(size);
  for (const e of entries) {
    if (e.index > end) break;
    if (e.flags & 4) dev.fill(0, e.sector * sectorSize, (e.sector + e.nrSectors) * sectorSize);
    else if (e.payload) e.payload.copy(dev, e.sector * sectorSize);
  }
  return dev;
}
