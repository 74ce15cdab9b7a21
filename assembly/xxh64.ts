// XXH64, streaming. The state lives in linear memory (layout below) so the host can keep it
// between calls as plain bytes.

const P1: u64 = 0x9e3779b185ebca87;
const P2: u64 = 0xc2b2ae3d27d4eb4f;
const P3: u64 = 0x165667b19e3779f9;
const P4: u64 = 0x85ebca77c2b2ae63;
const P5: u64 = 0x27d4eb2f165667c5;

// State layout: v1..v4 at 0..32, total length at 32, buffered count at 40, 32-byte buffer at 48.
const V = 0;
const TOTAL = 32;
const BUFFERED = 40;
const BUF = 48;
export const XXH64_STATE_BYTES = 80;

// @ts-ignore: decorator
@inline function round(acc: u64, input: u64): u64 {
  return rotl<u64>(acc + input * P2, 31) * P1;
}

// @ts-ignore: decorator
@inline function merge(h: u64, v: u64): u64 {
  return (h ^ round(0, v)) * P1 + P4;
}

export function xxh64Init(s: usize, seed: u64): void {
  store<u64>(s, seed + P1 + P2, V);
  store<u64>(s, seed + P2, V + 8);
  store<u64>(s, seed, V + 16);
  store<u64>(s, seed - P1, V + 24);
  store<u64>(s, 0, TOTAL);
  store<u32>(s, 0, BUFFERED);
}

/** Run the accumulators over whole 32-byte stripes of [p, p + n); returns bytes consumed. */
function stripes(s: usize, p: usize, n: usize): usize {
  let v1 = load<u64>(s, V);
  let v2 = load<u64>(s, V + 8);
  let v3 = load<u64>(s, V + 16);
  let v4 = load<u64>(s, V + 24);
  const end = p + (n & ~31);
  const start = p;
  while (p < end) {
    v1 = round(v1, load<u64>(p));
    v2 = round(v2, load<u64>(p, 8));
    v3 = round(v3, load<u64>(p, 16));
    v4 = round(v4, load<u64>(p, 24));
    p += 32;
  }
  store<u64>(s, v1, V);
  store<u64>(s, v2, V + 8);
  store<u64>(s, v3, V + 16);
  store<u64>(s, v4, V + 24);
  return end - start;
}

export function xxh64Update(s: usize, p: usize, len: usize): void {
  store<u64>(s, load<u64>(s, TOTAL) + <u64>len, TOTAL);
  let buffered = <usize>load<u32>(s, BUFFERED);
  if (buffered) {
    const take = min<usize>(32 - buffered, len);
    memory.copy(s + BUF + buffered, p, take);
    buffered += take;
    p += take;
    len -= take;
    if (buffered < 32) {
      store<u32>(s, <u32>buffered, BUFFERED);
      return;
    }
    stripes(s, s + BUF, 32);
  }
  const done = stripes(s, p, len);
  memory.copy(s + BUF, p + done, len - done);
  store<u32>(s, <u32>(len - done), BUFFERED);
}

export function xxh64Digest(s: usize): u64 {
  const total = load<u64>(s, TOTAL);
  let h: u64;
  if (total >= 32) {
    const v1 = load<u64>(s, V);
    const v2 = load<u64>(s, V + 8);
    const v3 = load<u64>(s, V + 16);
    const v4 = load<u64>(s, V + 24);
    h = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = load<u64>(s, V + 16) + P5; // v3 still holds the seed: no stripe was consumed
  }
  h += total;
  let p = s + BUF;
  const end = p + <usize>load<u32>(s, BUFFERED);
  while (end - p >= 8) {
    h = rotl<u64>(h ^ round(0, load<u64>(p)), 27) * P1 + P4;
    p += 8;
  }
  if (end - p >= 4) {
    h = rotl<u64>(h ^ (<u64>load<u32>(p) * P1), 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h = rotl<u64>(h ^ (<u64>load<u8>(p) * P5), 11) * P1;
    p++;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  return h ^ (h >> 32);
}

const oneShot: usize = memory.data(XXH64_STATE_BYTES, 16);

export function xxh64(p: usize, len: usize, seed: u64): u64 {
  xxh64Init(oneShot, seed);
  xxh64Update(oneShot, p, len);
  return xxh64Digest(oneShot);
}
