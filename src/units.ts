// How sizes and sector ranges are written in every message: one notation each.

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Raw bytes with a human size beside them: `67108864 bytes = 64 MiB` (just `512 bytes` below 1 KiB). */
export function bytesText(n: number): string {
  if (n < 1024) return plural(n, 'byte');
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${n} bytes = ${Number.isInteger(v) ? v : v.toFixed(1)} ${UNITS[u]}`;
}

/** Device sectors, inclusive: `sector 5` or `sectors 5..12` (what --sectors 5..12 takes). */
export const sectorsText = (start: number, count: number) => (count === 1 ? `sector ${start}` : `sectors ${start}..${start + count - 1}`);

/** A 64-bit fingerprint or checksum (xxh64) as 16 hex digits: how digest, explore, list and the viewer print them. */
export const hex64 = (v: bigint) => v.toString(16).padStart(16, '0');

/** A 32-bit checksum (crc32c) as 8 hex digits. */
export const hex32 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
