// An order-independent fingerprint of device content: the sum (mod 2^64) over every sector that
// is not all zeros of xxh64(u64le(index) || content). A per-sector table of those hashes lets an
// overwrite or a discard take back exactly what the sector contributed before.
//
// The table is open addressing with linear probing and backward-shift deletion (no tombstones,
// so heavy discard traffic never slows lookups): 16-byte slots, key = sector, EMPTY = u64.MAX.

import { xxh64 } from './xxh64';

const EMPTY: u64 = u64.MAX_VALUE;
const SLOT = 16;
const MIN_BITS: u32 = 10;

// Header layout of one fingerprint.
const TABLE = 0; // usize: slots
const BITS = 4; // u32: log2(capacity)
const COUNT = 8; // u32: occupied slots
const SECTOR_SIZE = 12; // u32
const SUM = 16; // u64
const HEADER_BYTES = 24;

// @ts-ignore: decorator
@inline function home(key: u64, bits: u32): usize {
  return <usize>((key * 0x9e3779b97f4a7c15) >> (64 - bits));
}

function newTable(bits: u32): usize {
  const bytes = SLOT << bits;
  const t = heap.alloc(bytes);
  memory.fill(t, 0xff, bytes);
  return t;
}

/** Put a key known to be absent into a table with room. */
function place(t: usize, bits: u32, key: u64, h: u64): void {
  const mask = (<usize>1 << bits) - 1;
  let i = home(key, bits);
  while (load<u64>(t + i * SLOT) != EMPTY) i = (i + 1) & mask;
  store<u64>(t + i * SLOT, key);
  store<u64>(t + i * SLOT, h, 8);
}

/** Move every entry outside sectors [lo, hi) into a fresh table of 2^bits slots. */
function rebuild(fp: usize, bits: u32, lo: u64, hi: u64): void {
  const old = load<usize>(fp, TABLE);
  const oldCap = <usize>1 << load<u32>(fp, BITS);
  const t = newTable(bits);
  let count: u32 = 0;
  let sum = load<u64>(fp, SUM);
  for (let i: usize = 0; i < oldCap; i++) {
    const key = load<u64>(old + i * SLOT);
    if (key == EMPTY) continue;
    const h = load<u64>(old + i * SLOT, 8);
    if (key >= lo && key < hi) {
      sum -= h; // inside the discarded range [lo, hi)
    } else {
      place(t, bits, key, h);
      count++;
    }
  }
  heap.free(old);
  store<usize>(fp, t, TABLE);
  store<u32>(fp, bits, BITS);
  store<u32>(fp, count, COUNT);
  store<u64>(fp, sum, SUM);
}

function set(fp: usize, key: u64, h: u64): void {
  const t = load<usize>(fp, TABLE);
  const bits = load<u32>(fp, BITS);
  const mask = (<usize>1 << bits) - 1;
  let i = home(key, bits);
  while (true) {
    const at = t + i * SLOT;
    const k = load<u64>(at);
    if (k == key) {
      store<u64>(fp, load<u64>(fp, SUM) - load<u64>(at, 8) + h, SUM);
      store<u64>(at, h, 8);
      return;
    }
    if (k == EMPTY) {
      store<u64>(at, key);
      store<u64>(at, h, 8);
      store<u64>(fp, load<u64>(fp, SUM) + h, SUM);
      const count = load<u32>(fp, COUNT) + 1;
      store<u32>(fp, count, COUNT);
      if (<usize>count * 4 > (mask + 1) * 3) rebuild(fp, bits + 1, 0, 0);
      return;
    }
    i = (i + 1) & mask;
  }
}

function remove(fp: usize, key: u64): void {
  const t = load<usize>(fp, TABLE);
  const bits = load<u32>(fp, BITS);
  const mask = (<usize>1 << bits) - 1;
  let i = home(key, bits);
  while (true) {
    const k = load<u64>(t + i * SLOT);
    if (k == EMPTY) return;
    if (k == key) break;
    i = (i + 1) & mask;
  }
  store<u64>(fp, load<u64>(fp, SUM) - load<u64>(t + i * SLOT, 8), SUM);
  store<u32>(fp, load<u32>(fp, COUNT) - 1, COUNT);
  // Backward shift: pull later members of the probe run into the hole where their home allows.
  let j = i;
  while (true) {
    j = (j + 1) & mask;
    const k = load<u64>(t + j * SLOT);
    if (k == EMPTY) break;
    if (((j - home(k, bits)) & mask) >= ((j - i) & mask)) {
      memory.copy(t + i * SLOT, t + j * SLOT, SLOT);
      i = j;
    }
  }
  store<u64>(t + i * SLOT, EMPTY);
}

/** True when [p, p + len) is all zero bytes; len is a multiple of 16. */
function allZero(p: usize, len: usize): bool {
  const end = p + len;
  while (end - p >= 64) {
    const v = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
    if (v128.any_true(v)) return false;
    p += 64;
  }
  while (p < end) {
    if (v128.any_true(v128.load(p))) return false;
    p += 16;
  }
  return true;
}

export function fpNew(sectorSize: u32): usize {
  const fp = heap.alloc(HEADER_BYTES);
  store<usize>(fp, newTable(MIN_BITS), TABLE);
  store<u32>(fp, MIN_BITS, BITS);
  store<u32>(fp, 0, COUNT);
  store<u32>(fp, sectorSize, SECTOR_SIZE);
  store<u64>(fp, 0, SUM);
  return fp;
}

export function fpFree(fp: usize): void {
  heap.free(load<usize>(fp, TABLE));
  heap.free(fp);
}

export function fpClone(fp: usize): usize {
  const copy = heap.alloc(HEADER_BYTES);
  memory.copy(copy, fp, HEADER_BYTES);
  const bytes = SLOT << load<u32>(fp, BITS);
  const t = heap.alloc(bytes);
  memory.copy(t, load<usize>(fp, TABLE), bytes);
  store<usize>(copy, t, TABLE);
  return copy;
}

export function fpValue(fp: usize): u64 {
  return load<u64>(fp, SUM);
}

/**
 * Sectors [sector, sector + len / sectorSize) now hold [p, p + len). Hashing needs the index
 * in front of each sector's bytes, so the 8 bytes before each sector are overwritten with it:
 * the caller must own 8 bytes before p, and the input is consumed.
 */
export function fpWrite(fp: usize, sector: f64, p: usize, len: usize): void {
  const size = <usize>load<u32>(fp, SECTOR_SIZE);
  let key = <u64>sector;
  const end = p + len;
  for (; p < end; p += size, key++) {
    if (allZero(p, size)) {
      remove(fp, key);
    } else {
      store<u64>(p - 8, key);
      set(fp, key, xxh64(p - 8, size + 8, 0));
    }
  }
}

/** Sectors [sector, sector + n) now read as zeros. */
export function fpZero(fp: usize, sector: f64, n: f64): void {
  const lo = <u64>sector;
  const hi = lo + <u64>n;
  if (n <= <f64>load<u32>(fp, COUNT)) {
    for (let key = lo; key < hi; key++) remove(fp, key);
  } else {
    rebuild(fp, load<u32>(fp, BITS), lo, hi);
  }
}
