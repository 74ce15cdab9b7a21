// Seeded damage to real logs: the ways a log goes wrong in the wild (bit rot, a cut copy, a
// torn write, an old log's leftovers) and the ways a forged one lies (absurd lengths, sizes,
// counts). Each mutation is aware of where headers are, so most land where parsing decides.
import type { Rng } from './hostile.ts';

/** A valid log to start from, with where its entries are. */
export interface Base {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly S: number;
  readonly offsets: readonly number[];
  /** Bytes of device the log writes (a target this size holds every valid write). */
  readonly deviceBytes: number;
}

const U64_EDGES = [
  0n,
  1n,
  2n,
  7n,
  0x7fffffffn,
  0xffffffffn,
  0x100000000n,
  2n ** 40n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];
const SECTOR_SIZES = [0, 1, 256, 511, 513, 1024, 2048, 4096, 8192, 65536, 1 << 24, 1 << 25, 2 ** 31, 2 ** 32 - 1];
const FIELDS = { sector: 0, nr_sectors: 8, flags: 16, data_len: 24 } as const;

const setU64 = (b: Uint8Array, at: number, v: bigint) => {
  if (at + 8 <= b.length) new DataView(b.buffer, b.byteOffset).setBigUint64(at, v, true);
};

function u64Value(r: Rng, base: Base): bigint {
  const sizeSectors = BigInt(Math.floor(base.bytes.length / base.S));
  return r.pick([
    ...U64_EDGES,
    sizeSectors,
    sizeSectors + 1n,
    sizeSectors - 1n,
    BigInt(r.int(64)),
    BigInt(r.int(0x7fffffff)) << BigInt(r.int(33)),
  ]);
}

type Mutation = (b: Uint8Array, r: Rng, base: Base, other: Base) => Uint8Array;

const header = (r: Rng, base: Base) => base.offsets[r.int(base.offsets.length)] ?? base.S;
const point = (r: Rng, b: Uint8Array, base: Base) => {
  // Half the time right at (or one byte off) a header, where decisions are made.
  if (r.next() < 0.5) return Math.max(0, Math.min(b.length, header(r, base) + r.pick([-1, 0, 0, 1, 8, 32, base.S])));
  return r.int(b.length + 1);
};
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

export const MUTATIONS: Record<string, Mutation> = {
  flipBits(b, r) {
    for (let n = 1 + r.int(8); n--; ) if (b.length) b[r.int(b.length)]! ^= 1 << r.int(8);
    return b;
  },
  headerField(b, r, base) {
    setU64(b, header(r, base) + r.pick(Object.values(FIELDS)), u64Value(r, base));
    return b;
  },
  superField(b, r, base) {
    const which = r.int(4);
    if (which === 0) setU64(b, 16, u64Value(r, base));
    else if (which === 1) new DataView(b.buffer, b.byteOffset).setUint32(24, r.pick(SECTOR_SIZES), true);
    else if (which === 2) setU64(b, 8, r.pick([0n, 2n, 2n ** 64n - 1n]));
    else b[r.int(8)]! ^= 1 << r.int(8);
    return b;
  },
  forgedDiscard(b, r, base) {
    const at = header(r, base);
    setU64(b, at + FIELDS.flags, 4n);
    setU64(b, at + FIELDS.nr_sectors, r.pick([2n ** 20n, 2n ** 31n, 2n ** 40n, 2n ** 44n, u64Value(r, base)]));
    if (r.next() < 0.5) setU64(b, at + FIELDS.sector, u64Value(r, base));
    return b;
  },
  forgedMark(b, r, base) {
    const at = header(r, base);
    setU64(b, at + FIELDS.flags, 8n);
    setU64(b, at + FIELDS.nr_sectors, r.pick([0n, 1n, u64Value(r, base)]));
    setU64(
      b,
      at + FIELDS.data_len,
      r.pick([BigInt(base.S - 33), BigInt(base.S - 32), BigInt(base.S), u64Value(r, base)]),
    );
    const text = r.bytes(Math.min(base.S - 32, 1 + r.int(64)));
    if (at + 32 + text.length <= b.length) b.set(text, at + 32);
    return b;
  },
  truncate(b, r, base) {
    return b.slice(0, point(r, b, base));
  },
  splice(b, r, base, other) {
    const from = r.int(other.bytes.length);
    const piece = other.bytes.subarray(from, from + r.pick([1, 32, base.S, other.S, r.int(4 * other.S)]));
    const at = point(r, b, base);
    return cat(b.subarray(0, at), piece, b.subarray(at));
  },
  repeatHeader(b, r, base) {
    const at = header(r, base);
    const copy = b.slice(at, at + base.S);
    return cat(b.subarray(0, at + base.S), copy, b.subarray(at + base.S));
  },
  deleteRange(b, r, base) {
    const at = point(r, b, base);
    return cat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + r.int(2 * base.S))));
  },
  overwriteRange(b, r, base) {
    const at = point(r, b, base);
    const n = Math.min(b.length - at, 1 + r.int(2 * base.S));
    if (n > 0) b.set(r.next() < 0.5 ? new Uint8Array(n) : r.bytes(n), at);
    return b;
  },
};
const NAMES = Object.keys(MUTATIONS);

/** One to three mutations of `base`; returns the damaged copy and what was done. */
export function mutate(base: Base, other: Base, r: Rng): { bytes: Uint8Array; steps: string[] } {
  let bytes: Uint8Array = base.bytes.slice();
  const steps: string[] = [];
  for (let n = 1 + r.int(3); n--; ) {
    const name = r.pick(NAMES);
    steps.push(name);
    bytes = MUTATIONS[name]!(bytes, r, base, other);
  }
  return { bytes, steps };
}
