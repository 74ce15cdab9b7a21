// CRC-32C (Castagnoli) in plain TypeScript, slicing-by-8 over the reflected polynomial.

const POLY = 0x82f63b78;
const SLICES = 8;

/** tables[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
const tables = (() => {
  const t = new Int32Array(SLICES * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (POLY & -(c & 1));
    t[i] = c;
  }
  for (let i = 256; i < t.length; i++) t[i] = (t[i - 256]! >>> 8) ^ t[t[i - 256]! & 0xff]!;
  return t;
})();

export function crc32c(data: Uint8Array, crc = 0): number {
  const t = tables;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  for (const end = n - (n % 8); i < end; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = (c >>> 8) ^ t[(c ^ data[i]!) & 0xff]!;
  return ~c >>> 0;
}
