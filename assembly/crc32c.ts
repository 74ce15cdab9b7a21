// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-16.
//
// WebAssembly has neither a crc32 instruction nor carry-less multiply, so the fastest portable
// form is table lookup; sixteen tables let one step consume 16 bytes with only one dependent
// table round per step, which keeps the loads of consecutive steps overlapping.

const POLY: u32 = 0x82f63b78;
const TABLES = 16;
const TABLE_BYTES = 256 * 4;
const tables: usize = memory.data(TABLES * TABLE_BYTES, 64);

function initTables(): void {
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (POLY & (0 - (c & 1)));
    store<u32>(tables + (i << 2), c);
  }
  for (let t = 1; t < TABLES; t++) {
    const at = tables + t * TABLE_BYTES;
    for (let i: u32 = 0; i < 256; i++) {
      const prev = load<u32>(at - TABLE_BYTES + (i << 2));
      store<u32>(at + (i << 2), (prev >>> 8) ^ load<u32>(tables + ((prev & 0xff) << 2)));
    }
  }
}
initTables();

// Entry t of table k for byte b: `immOffset` must be a constant, hence the macro-like inline.
// @ts-ignore: decorator
@inline function T(k: usize, b: u32): u32 {
  return load<u32>(tables + k * TABLE_BYTES + ((b & 0xff) << 2));
}

// @ts-ignore: decorator
@inline function word(x: u32, k0: usize): u32 {
  return T(k0, x) ^ T(k0 - 1, x >>> 8) ^ T(k0 - 2, x >>> 16) ^ T(k0 - 3, x >>> 24);
}

/** Continue a CRC-32C: `crc` is a finished value (0 to start), so calls chain over pieces. */
export function crc32c(crc: u32, p: usize, len: usize): u32 {
  let c = ~crc;
  const end = p + len;
  // Byte steps until aligned, so the wide loads below are aligned.
  while (p < end && (p & 3) != 0) {
    c = (c >>> 8) ^ T(0, c ^ load<u8>(p));
    p++;
  }
  while (end - p >= 16) {
    const a = load<u32>(p) ^ c;
    const b = load<u32>(p, 4);
    const d = load<u32>(p, 8);
    const e = load<u32>(p, 12);
    c = word(a, 15) ^ word(b, 11) ^ word(d, 7) ^ word(e, 3);
    p += 16;
  }
  while (p < end) {
    c = (c >>> 8) ^ T(0, c ^ load<u8>(p));
    p++;
  }
  return ~c;
}
