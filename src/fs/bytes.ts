// Reading on-disk integers and blocks for the file-system annotators.

import type { ByteSource } from '../reader.ts';

const U32 = 0x1_0000_0000;

export const le16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
export const le32 = (b: Uint8Array, at: number) =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
/** A u64 as a number (exact below 2^53, which every offset on a real device is). */
export const le64 = (b: Uint8Array, at: number) => le32(b, at + 4) * U32 + le32(b, at);
export const be16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
export const be32 = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
export const be64 = (b: Uint8Array, at: number) => be32(b, at) * U32 + be32(b, at + 4);

/** Bytes [offset, offset + length) of a device state, zeros past its end. */
export async function readAt(src: ByteSource, offset: number, length: number): Promise<Uint8Array> {
  const got = offset >= src.size ? new Uint8Array(0) : await src.read(offset, Math.min(length, src.size - offset));
  if (got.length === length) return got;
  const out = new Uint8Array(length);
  out.set(got.subarray(0, length));
  return out;
}

export function ascii(b: Uint8Array, at: number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(b[at + i]!);
  return s;
}

const utf8 = new TextDecoder();
export const name = (b: Uint8Array, at: number, length: number) => utf8.decode(b.subarray(at, at + length));

export const hex = (b: Uint8Array, at: number, length: number) =>
  Array.from(b.subarray(at, at + length), (x) => x.toString(16).padStart(2, '0')).join('');
