// Which log bytes a device sector holds at some point of a log: the last write wins.
//
// Device sectors are grouped in pages of PAGE sectors, allocated only where the log wrote,
// so memory follows what the log touched rather than the device size. Each slot holds the
// log sector (offset / sector size) of the sector's current content, ZEROED after a discard,
// or UNTOUCHED (sector 0 is the super, never a payload). Slots are 32-bit while every source
// fits (logs up to 1 TiB at 512-byte sectors) and 64-bit from the first that does not: half
// the memory to fill: bench/raw's walk and map of 262k writes took 260 ms instead of 289
// (medians of 8, interleaved).
// Discards of whole pages (mkfs discards the whole device) are kept as runs of page numbers
// instead, so they cost nothing per sector; an allocated page takes precedence over a run.

import { Flag } from '../format.ts';

export const UNTOUCHED = 0;
export const ZEROED = -1;

/** What an entry (or an explore write) leaves in its sectors: a discard zeros them, a write leaves its payload. */
export type Content = { readonly payloadOffset: number } & ({ readonly flags: number } | { readonly discard: boolean });

/** The source a SectorMap records for `w`'s sectors: ZEROED for a discard, else where its payload lies in the log. */
export function contentSource(w: Content): number {
  const discard = 'discard' in w ? w.discard : (w.flags & Flag.DISCARD) !== 0;
  return discard ? ZEROED : w.payloadOffset;
}
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

/**
 * The page of sector `s`: a shift below 2^31. A sector decoded from a header is a double, and
 * `%` on a double is a call: 262k random 8-sector sets took 79.3 ms with `Math.floor` and `%`,
 * 70.2 ms this way (43.6 and 38.3 ms in device order; medians of 15).
 */
const pageOf = (s: number) => (s < 0x8000_0000 ? s >> PAGE_BITS : Math.floor(s / PAGE));

/** A page's slots: Int32Array while the map is narrow, Float64Array once it is wide. */
type Slots = Int32Array | Float64Array;
/** Narrow slots hold log sectors below this. */
const NARROW_END = 2 ** 31 - 1;

/** The first touched slot of the page from `i` on, or PAGE. */
function touchedFrom(slots: Slots, i: number): number {
  while (i < PAGE && slots[i] === UNTOUCHED) i++;
  return i;
}

/** Where the run of slots that slot `i` starts ends: zeros go on while zeroed, log sectors while each follows the one before. */
function runEnd(slots: Slots, i: number): number {
  const src = slots[i]!;
  if (src === ZEROED) {
    while (++i < PAGE && slots[i] === ZEROED);
    return i;
  }
  for (let next = src + 1; ++i < PAGE && slots[i] === next; next++);
  return i;
}

/** A run of device sectors whose content comes from consecutive log bytes (or is zero). */
export interface Extent {
  readonly sector: number;
  readonly nrSectors: number;
  /** Log byte offset of the first sector's content, or ZEROED. */
  readonly source: number;
}

/** Inclusive runs of page numbers. */
interface PageRun {
  first: number;
  last: number;
}

export class SectorMap {
  private readonly pages = new Map<number, Slots>();
  /** Whether the slots are Float64Array (a source past NARROW_END, or not on a log sector). */
  private wide = false;
  /** Whole zeroed pages: sorted, disjoint, not adjacent. */
  private readonly zeroRuns: PageRun[] = [];

  constructor(readonly sectorSize: number) {}

  /** Index of the first run that ends at or after page `p`. */
  private runAtOrAfter(p: number): number {
    let lo = 0;
    let hi = this.zeroRuns.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.zeroRuns[mid]!.last < p) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private inZeroRun(p: number): boolean {
    const r = this.zeroRuns[this.runAtOrAfter(p)];
    return r !== undefined && r.first <= p;
  }

  private page(n: number): Slots {
    let p = this.pages.get(n);
    if (!p) {
      p = this.wide ? new Float64Array(PAGE) : new Int32Array(PAGE);
      if (this.inZeroRun(n)) p.fill(ZEROED);
      this.pages.set(n, p);
    }
    return p;
  }

  /** Pages [first, last] are now all zero: one run, and no allocated page inside it. */
  private zeroPages(first: number, last: number): void {
    for (const n of this.pages.keys()) if (n >= first && n <= last) this.pages.delete(n);
    const from = this.runAtOrAfter(first - 1);
    let to = from;
    let run: PageRun = { first, last };
    while (to < this.zeroRuns.length && this.zeroRuns[to]!.first <= last + 1) {
      const r = this.zeroRuns[to]!;
      run = { first: Math.min(run.first, r.first), last: Math.max(run.last, r.last) };
      to++;
    }
    this.zeroRuns.splice(from, to - from, run);
  }

  /** Every page's slots as Float64Array from now on. */
  private widen(): void {
    this.wide = true;
    for (const [n, p] of this.pages) this.pages.set(n, Float64Array.from(p));
  }

  /** Sectors [sector, sector + nrSectors) now hold log bytes from `source` on (or zeros). */
  set(sector: number, nrSectors: number, source: number): void {
    const first = source === ZEROED ? ZEROED : source / this.sectorSize;
    if (!this.wide && first !== ZEROED && !(Number.isInteger(first) && first + nrSectors <= NARROW_END)) this.widen();
    for (let s = sector, end = sector + nrSectors; s < end; ) {
      const n = pageOf(s);
      const from = s - n * PAGE;
      if (source === ZEROED && from === 0 && end - s >= PAGE) {
        const last = pageOf(end) - 1;
        this.zeroPages(n, last);
        s = (last + 1) * PAGE;
        continue;
      }
      const p = this.page(n);
      const to = Math.min(PAGE, from + (end - s));
      if (source === ZEROED) p.fill(ZEROED, from, to);
      else for (let i = from, src = first + (s - sector); i < to; i++) p[i] = src++;
      s += to - from;
    }
  }

  get(sector: number): number {
    const n = pageOf(sector);
    const p = this.pages.get(n);
    if (p) return this.bytesOf(p[sector - n * PAGE]!);
    return this.inZeroRun(n) ? ZEROED : UNTOUCHED;
  }

  /** A slot's content as a SectorMap gives it: a log byte offset, ZEROED or UNTOUCHED. */
  private bytesOf(slot: number): number {
    return slot === ZEROED || slot === UNTOUCHED ? slot : slot * this.sectorSize;
  }

  /** Allocated pages and whole zeroed pages, in page order, never overlapping. */
  private *pieces(): Generator<{ page: number; slots: Slots } | { page: number; zeroPages: number }> {
    const keys = [...this.pages.keys()].sort((a, b) => a - b);
    let k = 0;
    for (const run of this.zeroRuns) {
      for (; k < keys.length && keys[k]! < run.first; k++) yield { page: keys[k]!, slots: this.pages.get(keys[k]!)! };
      let at = run.first;
      for (; k < keys.length && keys[k]! <= run.last; k++) {
        if (keys[k]! > at) yield { page: at, zeroPages: keys[k]! - at };
        yield { page: keys[k]!, slots: this.pages.get(keys[k]!)! };
        at = keys[k]! + 1;
      }
      if (at <= run.last) yield { page: at, zeroPages: run.last - at + 1 };
    }
    for (; k < keys.length; k++) yield { page: keys[k]!, slots: this.pages.get(keys[k]!)! };
  }

  /** Every touched sector, in device order, merged into the longest runs. */
  *extents(): Generator<Extent> {
    // The current run, in locals, its source in log sectors; the slots of a page are scanned by
    // touchedFrom and runEnd, outside the generator.
    let sector = -1;
    let nrSectors = 0;
    let source = UNTOUCHED;
    const extent = (): Extent => ({ sector, nrSectors, source: this.bytesOf(source) });
    for (const piece of this.pieces()) {
      if ('zeroPages' in piece) {
        const first = piece.page * PAGE;
        if (nrSectors && source === ZEROED && sector + nrSectors === first) nrSectors += piece.zeroPages * PAGE;
        else {
          if (nrSectors) yield extent();
          sector = first;
          nrSectors = piece.zeroPages * PAGE;
          source = ZEROED;
        }
        continue;
      }
      const slots = piece.slots;
      const base = piece.page * PAGE;
      for (let i = touchedFrom(slots, 0); i < PAGE; ) {
        const src = slots[i]!;
        const end = runEnd(slots, i);
        const at = base + i;
        if (
          nrSectors &&
          sector + nrSectors === at &&
          (src === ZEROED ? source === ZEROED : source !== ZEROED && source + nrSectors === src)
        )
          nrSectors += end - i;
        else {
          if (nrSectors) yield extent();
          sector = at;
          nrSectors = end - i;
          source = src;
        }
        i = touchedFrom(slots, end);
      }
    }
    if (nrSectors) yield extent();
  }

  /** Sectors ever set (touched), for sizing and reports. */
  get touchedSectors(): number {
    let n = 0;
    for (const piece of this.pieces()) {
      if ('zeroPages' in piece) n += piece.zeroPages * PAGE;
      else for (const v of piece.slots) if (v !== UNTOUCHED) n++;
    }
    return n;
  }
}
