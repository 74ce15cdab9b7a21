// The entry index as bytes, so that a later call over the same log can start from it (see
// src/node/io/index-cache.ts). Little-endian, columns 8-byte aligned:
//
//   "LWINDEX1" | u32 identity length | identity | pad to 8
//   u32 count | u32 sectorSize | f64 nrEntries
//   f64 offset[count] | f64 sector[count] | f64 nrSectors[count] | u32 flags[count] | pad to 8
//   u32 high-flag count | (u32 entry, u32 flags)* | u32 mark count | (u32 entry, u32 bytes, utf-8)*
//
// The identity is whatever the caller needs to tell this log's state from any other; decoding
// gives it back for comparison and never trusts the bytes beyond their own bounds.

import type { LogIndex, MarkRef } from './log-index.ts';

const MAGIC = 'LWINDEX1';
const text = new TextEncoder();
const untext = new TextDecoder();

const align8 = (n: number) => (n + 7) & ~7;

export function encodeIndex(index: LogIndex, identity: Uint8Array): Uint8Array {
  const n = index.count;
  const marks = index.marks.map((m) => ({ index: m.index, bytes: text.encode(m.text) }));
  const head = align8(8 + 4 + identity.length);
  const columns = head + 16 + n * 28;
  const tail = align8(columns) + 4 + index.highFlags.size * 8 + 4 + marks.reduce((s, m) => s + 8 + m.bytes.length, 0);
  const out = new Uint8Array(tail);
  const v = new DataView(out.buffer);
  out.set(text.encode(MAGIC), 0);
  v.setUint32(8, identity.length, true);
  out.set(identity, 12);
  v.setUint32(head, n, true);
  v.setUint32(head + 4, index.sectorSize, true);
  v.setFloat64(head + 8, index.nrEntries, true);
  let at = head + 16;
  for (const col of [index.offset, index.sector, index.nrSectors]) {
    out.set(new Uint8Array(col.buffer, col.byteOffset, n * 8), at);
    at += n * 8;
  }
  out.set(new Uint8Array(index.flags.buffer, index.flags.byteOffset, n * 4), at);
  at = align8(at + n * 4);
  v.setUint32(at, index.highFlags.size, true);
  at += 4;
  for (const [entry, flags] of index.highFlags) {
    v.setUint32(at, entry, true);
    v.setUint32(at + 4, flags, true);
    at += 8;
  }
  v.setUint32(at, marks.length, true);
  at += 4;
  for (const m of marks) {
    v.setUint32(at, m.index, true);
    v.setUint32(at + 4, m.bytes.length, true);
    out.set(m.bytes, at + 8);
    at += 8 + m.bytes.length;
  }
  return out;
}

/** The identity and index stored in `bytes`, or undefined when they are not such a file (or cut short). */
export function decodeIndex(bytes: Uint8Array): { identity: Uint8Array; index: LogIndex } | undefined {
  try {
    return decode(bytes);
  } catch (e) {
    if (e instanceof RangeError) return undefined;
    throw e;
  }
}

function decode(bytes: Uint8Array): { identity: Uint8Array; index: LogIndex } | undefined {
  if (bytes.length < 12 || untext.decode(bytes.subarray(0, 8)) !== MAGIC) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idLength = v.getUint32(8, true);
  const identity = bytes.slice(12, 12 + idLength);
  const head = align8(12 + idLength);
  const n = v.getUint32(head, true);
  const sectorSize = v.getUint32(head + 4, true);
  const nrEntries = v.getFloat64(head + 8, true);
  let at = head + 16;
  if (identity.length !== idLength || at + n * 28 > bytes.length) return undefined;
  // Copies: the file's bytes need not be 8-byte aligned, and the columns outlive them.
  const column = () => {
    const c = new Float64Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + n * 8));
    at += n * 8;
    return c;
  };
  const offset = column();
  const sector = column();
  const nrSectors = column();
  const flags = new Uint32Array(bytes.buffer.slice(bytes.byteOffset + at, bytes.byteOffset + at + n * 4));
  at = align8(at + n * 4);
  const highFlags = new Map<number, number>();
  for (let i = v.getUint32(at, true), p = at + 4; i > 0; i--, p += 8)
    highFlags.set(v.getUint32(p, true), v.getUint32(p + 4, true));
  at += 4 + highFlags.size * 8;
  const marks: MarkRef[] = [];
  let p = at + 4;
  for (let i = v.getUint32(at, true); i > 0; i--) {
    const length = v.getUint32(p + 4, true);
    if (p + 8 + length > bytes.length) return undefined;
    marks.push({ index: v.getUint32(p, true), text: untext.decode(bytes.subarray(p + 8, p + 8 + length)) });
    p += 8 + length;
  }
  return { identity, index: { count: n, sectorSize, nrEntries, offset, sector, nrSectors, flags, marks, highFlags } };
}
