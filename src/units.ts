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
export const sectorsText = (start: number, count: number) =>
  count === 1 ? `sector ${start}` : `sectors ${start}..${start + count - 1}`;

/** A 64-bit fingerprint or checksum (xxh64) as 16 hex digits: how digest, explore, list and the viewer print them. */
export const hex64 = (v: bigint) => v.toString(16).padStart(16, '0');

/** A 32-bit checksum (crc32c) as 8 hex digits. */
export const hex32 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');

const SIZE_SCALE: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/**
 * A size as every command and the viewer take it, in bytes; undefined for anything else. The
 * grammar: a number (decimals allowed), then an optional binary multiple K, M, G or T (any
 * case, as dd and qemu-img read them), then an optional `i`, `B` or `iB` (`4096`, `4096B`,
 * `64M`, `64MiB`, `64Ki`, `1.5G`); spaces around and between are ignored. The result must be
 * a whole number of bytes (`0.5` is refused, not rounded), 0 included: callers that need a
 * positive size check it.
 */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (!m || (/i/i.test(m[3]!) && !m[2])) return undefined;
  const n = Number(m[1]) * SIZE_SCALE[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(n) ? n : undefined;
}
