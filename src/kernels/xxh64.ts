// XXH64 in plain TypeScript. 64-bit lanes are (hi, lo) pairs of 32-bit words so no BigInt is
// touched per byte; the helpers leave their result in H and L to avoid allocating pairs. Words
// are kept as int32 (`| 0`), not uint32: V8 stores int32 unboxed, uint32 above 2^31 as a heap
// number, and that allocation per step cost a factor of several.

import type { Xxh64Stream } from './types.ts';

const P1H = 0x9e3779b1,
  P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d,
  P2L = 0x27d4eb4f;
const P3H = 0x165667b1,
  P3L = 0x9e3779f9;
const P4H = 0x85ebca77,
  P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f,
  P5L = 0x165667c5;

let H = 0;
let L = 0;

/** (H, L) = a * b mod 2^64, with 16-bit partial products so every step is exact in a double. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff,
    a1 = al >>> 16,
    b0 = bl & 0xffff,
    b1 = bl >>> 16;
  const p00 = a0 * b0,
    p01 = a0 * b1,
    p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  L = (mid << 16) | (p00 & 0xffff);
  H = (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
}

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  L = lo | 0;
  H = (ah + bh + (lo > 0xffffffff ? 1 : 0)) | 0;
}

function rotl(h: number, l: number, r: number): void {
  if (r >= 32) {
    const t = h;
    h = l;
    l = t;
    r -= 32;
  }
  if (r === 0) {
    H = h;
    L = l;
    return;
  }
  H = (h << r) | (l >>> (32 - r));
  L = (l << r) | (h >>> (32 - r));
}

/** (H, L) = rotl(acc + input * P2, 31) * P1 */
function round(ah: number, al: number, ih: number, il: number): void {
  mul(ih, il, P2H, P2L);
  add(ah, al, H, L);
  rotl(H, L, 31);
  mul(H, L, P1H, P1L);
}

/** (H, L) = (h ^ round(0, v)) * P1 + P4 */
function merge(h: number, l: number, vh: number, vl: number): void {
  round(0, 0, vh, vl);
  mul(h ^ H, l ^ L, P1H, P1L);
  add(H, L, P4H, P4L);
}

const u32 = (b: Uint8Array, i: number) => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);

class JsXxh64 implements Xxh64Stream {
  /** v1..v4 as hi, lo pairs */
  private readonly v = new Int32Array(8);
  private readonly buf = new Uint8Array(32);
  private buffered = 0;
  private total = 0;

  constructor(seed: bigint) {
    const sh = Number(BigInt.asUintN(32, seed >> 32n)),
      sl = Number(BigInt.asUintN(32, seed));
    const v = this.v;
    add(sh, sl, P1H, P1L);
    add(H, L, P2H, P2L);
    ((v[0] = H), (v[1] = L));
    add(sh, sl, P2H, P2L);
    ((v[2] = H), (v[3] = L));
    ((v[4] = sh), (v[5] = sl));
    add(sh, sl, ~P1H, ~P1L); // seed - P1 = seed + ~P1 + 1
    add(H, L, 0, 1);
    ((v[6] = H), (v[7] = L));
  }

  update(data: Uint8Array): this {
    this.total += data.length;
    let i = 0;
    if (this.buffered) {
      i = Math.min(32 - this.buffered, data.length);
      this.buf.set(data.subarray(0, i), this.buffered);
      this.buffered += i;
      if (this.buffered < 32) return this;
      this.stripes(this.buf, 0, 32);
      this.buffered = 0;
    }
    const end = i + ((data.length - i) & ~31);
    this.stripes(data, i, end);
    this.buf.set(data.subarray(end), 0);
    this.buffered = data.length - end;
    return this;
  }

  private stripes(b: Uint8Array, i: number, end: number): void {
    const v = this.v;
    let v1h = v[0]!,
      v1l = v[1]!,
      v2h = v[2]!,
      v2l = v[3]!,
      v3h = v[4]!,
      v3l = v[5]!,
      v4h = v[6]!,
      v4l = v[7]!;
    for (; i < end; i += 32) {
      round(v1h, v1l, u32(b, i + 4), u32(b, i));
      ((v1h = H), (v1l = L));
      round(v2h, v2l, u32(b, i + 12), u32(b, i + 8));
      ((v2h = H), (v2l = L));
      round(v3h, v3l, u32(b, i + 20), u32(b, i + 16));
      ((v3h = H), (v3l = L));
      round(v4h, v4l, u32(b, i + 28), u32(b, i + 24));
      ((v4h = H), (v4l = L));
    }
    ((v[0] = v1h), (v[1] = v1l), (v[2] = v2h), (v[3] = v2l), (v[4] = v3h), (v[5] = v3l), (v[6] = v4h), (v[7] = v4l));
  }

  digest(): bigint {
    const v = this.v;
    let h: number, l: number;
    if (this.total >= 32) {
      rotl(v[0]!, v[1]!, 1);
      let sh = H,
        sl = L;
      for (const [k, r] of [
        [2, 7],
        [4, 12],
        [6, 18],
      ] as const) {
        rotl(v[k]!, v[k + 1]!, r);
        add(sh, sl, H, L);
        ((sh = H), (sl = L));
      }
      for (let k = 0; k < 8; k += 2) {
        merge(sh, sl, v[k]!, v[k + 1]!);
        ((sh = H), (sl = L));
      }
      ((h = sh), (l = sl));
    } else {
      add(v[4]!, v[5]!, P5H, P5L); // v3 still holds the seed: no stripe was consumed
      ((h = H), (l = L));
    }
    add(h, l, Math.floor(this.total / 0x1_0000_0000), this.total >>> 0);
    ((h = H), (l = L));
    const b = this.buf;
    let i = 0;
    for (; i + 8 <= this.buffered; i += 8) {
      round(0, 0, u32(b, i + 4), u32(b, i));
      rotl(h ^ H, l ^ L, 27);
      mul(H, L, P1H, P1L);
      add(H, L, P4H, P4L);
      ((h = H), (l = L));
    }
    if (i + 4 <= this.buffered) {
      mul(0, u32(b, i), P1H, P1L);
      rotl(h ^ H, l ^ L, 23);
      mul(H, L, P2H, P2L);
      add(H, L, P3H, P3L);
      ((h = H), (l = L));
      i += 4;
    }
    for (; i < this.buffered; i++) {
      mul(0, b[i]!, P5H, P5L);
      rotl(h ^ H, l ^ L, 11);
      mul(H, L, P1H, P1L);
      ((h = H), (l = L));
    }
    l ^= h >>> 1; // h ^= h >> 33
    mul(h, l, P2H, P2L);
    ((h = H ^ (H >>> 29)), (l = L ^ ((L >>> 29) | (H << 3)))); // h ^= h >> 29
    mul(h, l, P3H, P3L);
    ((h = H), (l = L ^ H)); // h ^= h >> 32
    return (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);
  }
}

export function xxh64Stream(seed = 0n): Xxh64Stream {
  return new JsXxh64(seed);
}

export function xxh64(data: Uint8Array, seed = 0n): bigint {
  return new JsXxh64(seed).update(data).digest();
}
