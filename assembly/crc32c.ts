// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): slicing-by-16 over three interleaved
// streams.
//
// WebAssembly has neither a crc32 instruction nor carry-less multiply, so the fastest portable
// form is table lookup. Sixteen tables let one step consume 16 bytes; a single stream is still
// bound by the latency of each step's lookups on the previous step's result, so long inputs are
// cut into three blocks hashed side by side (independent chains the CPU overlaps) and joined by
// shifting the earlier blocks' registers over the later blocks' length.

const POLY: u32 = 0x82f63b78;
const TABLES: usize = 16;
const TABLE_BYTES: usize = 256 * 4;
// Table k (k = 0..15) is at address k * TABLE_BYTES, below `memoryBase` in asconfig.json where
// nothing else is placed, so a lookup is one load with the table base as its constant offset.
// Entry b of table k is the CRC register after byte b followed by k zero bytes.
/** Bytes per block in the three-way loop; the join costs two multiplications per 3 blocks. */
const BLOCK: usize = 4096;
/** x^(8 * BLOCK) and x^(16 * BLOCK) mod P: the join's shifts over one and two blocks. */
let shift1: u32 = 0;
let shift2: u32 = 0;

function initTables(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (POLY & (0 - (c & 1)));
    store<u32>(i << 2, c);
  }
  for (let at: usize = TABLE_BYTES; at < TABLES * TABLE_BYTES; at += 4) {
    const prev = load<u32>(at - TABLE_BYTES);
    store<u32>(at, (prev >>> 8) ^ load<u32>((prev & 0xff) << 2));
  }
}
initTables();
shift1 = zeros(0x80000000, BLOCK); // 0x80000000 is the polynomial 1 in reflected form
shift2 = zeros(shift1, BLOCK);

/** The register after feeding n zero bytes: r * x^(8n) mod P. */
function zeros(r: u32, n: usize): u32 {
  for (let i: usize = 0; i < n; i++) r = (r >>> 8) ^ load<u32>((r & 0xff) << 2);
  return r;
}

/** a * b mod P, carry-less, both reflected. */
function mulmod(a: u32, b: u32): u32 {
  let p: u32 = 0;
  for (let m: u32 = 0x80000000; m != 0; m >>>= 1) {
    if (a & m) p ^= b;
    b = (b >>> 1) ^ (POLY & (0 - (b & 1)));
  }
  return p;
}

// Table k's entry for byte b of a word, as `load<u32>(B(x, j), k * TABLE_BYTES)`: B shifts byte j
// of x into place already scaled by 4 (a shift and a mask, not shift, mask and scale), and the
// table base is the load's constant offset (it must be a literal expression, hence the spelled-out loop).
// @ts-ignore: decorator
@inline function B(x: u32, j: u32): usize {
  return (j == 0 ? x << 2 : x >>> (j * 8 - 2)) & 0x3fc;
}

// @ts-ignore: decorator
@inline function byteStep(c: u32, b: u8): u32 {
  return (c >>> 8) ^ load<u32>(B(c ^ b, 0));
}

/** One slicing-by-16 step: the register after the 16 bytes at p. */
// @ts-ignore: decorator
@inline function step16(c: u32, p: usize): u32 {
  const a = load<u32>(p) ^ c;
  const b = load<u32>(p, 4);
  const d = load<u32>(p, 8);
  const e = load<u32>(p, 12);
  return (
    load<u32>(B(a, 0), 15 * TABLE_BYTES) ^ load<u32>(B(a, 1), 14 * TABLE_BYTES) ^
    load<u32>(B(a, 2), 13 * TABLE_BYTES) ^ load<u32>(B(a, 3), 12 * TABLE_BYTES) ^
    load<u32>(B(b, 0), 11 * TABLE_BYTES) ^ load<u32>(B(b, 1), 10 * TABLE_BYTES) ^
    load<u32>(B(b, 2), 9 * TABLE_BYTES) ^ load<u32>(B(b, 3), 8 * TABLE_BYTES) ^
    load<u32>(B(d, 0), 7 * TABLE_BYTES) ^ load<u32>(B(d, 1), 6 * TABLE_BYTES) ^
    load<u32>(B(d, 2), 5 * TABLE_BYTES) ^ load<u32>(B(d, 3), 4 * TABLE_BYTES) ^
    load<u32>(B(e, 0), 3 * TABLE_BYTES) ^ load<u32>(B(e, 1), 2 * TABLE_BYTES) ^
    load<u32>(B(e, 2), TABLE_BYTES) ^ load<u32>(B(e, 3))
  );
}

/** Continue a CRC-32C: `crc` is a finished value (0 to start), so calls chain over pieces. */
export function crc32c(crc: u32, p: usize, len: usize): u32 {
  let c = ~crc;
  const end = p + len;
  // Byte steps until aligned, so the wide loads below are aligned.
  while (p < end && (p & 3) != 0) {
    c = byteStep(c, load<u8>(p));
    p++;
  }
  while (end - p >= 3 * BLOCK) {
    let c1: u32 = 0;
    let c2: u32 = 0;
    for (const stop = p + BLOCK; p < stop; p += 16) {
      c = step16(c, p);
      c1 = step16(c1, p + BLOCK);
      c2 = step16(c2, p + 2 * BLOCK);
    }
    c = mulmod(c, shift2) ^ mulmod(c1, shift1) ^ c2;
    p += 2 * BLOCK;
  }
  while (end - p >= 16) {
    c = step16(c, p);
    p += 16;
  }
  while (p < end) {
    c = byteStep(c, load<u8>(p));
    p++;
  }
  return ~c;
}
