// Which log bytes a device sector holds at some point of a log: the last write wins.
//
// Device sectors are grouped in pages of PAGE sectors, allocated only where the log wrote,
// so memory follows what the log touched rather than the device size. Each slot holds the
// log byte offset of the sector's current content, ZEROED after a discard, or UNTOUCHED.

export const UNTOUCHED = 0;
export const ZEROED = -1;
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

/** A run of device sectors whose content comes from consecutive log bytes (or is zero). */
export interface Extent {
  readonly sector: number;
  readonly nrSectors: number;
  /** Log byte offset of the first sector's content, or ZEROED. */
  readonly source: number;
}

export class SectorMap {
  private readonly pages = new Map<number, Float64Array>();

  constructor(readonly sectorSize: number) {}

  private page(n: number): Float64Array {
    let p = this.pages.get(n);
    if (!p) {
      p = new Float64Array(PAGE);
      this.pages.set(n, p);
    }
    return p;
  }

  /** Sectors [sector, sector + nrSectors) now hold log bytes from `source` on (or zeros). */
  set(sector: number, nrSectors: number, source: number): void {
    const S = this.sectorSize;
    for (let s = sector, end = sector + nrSectors; s < end; ) {
      const p = this.page(Math.floor(s / PAGE));
      const from = s % PAGE;
      const to = Math.min(PAGE, from + (end - s));
      if (source === ZEROED) p.fill(ZEROED, from, to);
      else for (let i = from, src = source + (s - sector) * S; i < to; i++, src += S) p[i] = src;
      s += to - from;
    }
  }

  get(sector: number): number {
    return this.pages.get(Math.floor(sector / PAGE))?.[sector % PAGE] ?? UNTOUCHED;
  }

  /** Every touched sector, in device order, merged into the longest runs. */
  *extents(): Generator<Extent> {
    const S = this.sectorSize;
    let run: { sector: number; nrSectors: number; source: number } | undefined;
    for (const n of [...this.pages.keys()].sort((a, b) => a - b)) {
      const p = this.pages.get(n)!;
      for (let i = 0; i < PAGE; i++) {
        const src = p[i]!;
        const sector = n * PAGE + i;
        if (src === UNTOUCHED) continue;
        if (run && run.sector + run.nrSectors === sector && (src === ZEROED ? run.source === ZEROED : run.source !== ZEROED && run.source + run.nrSectors * S === src)) {
          run.nrSectors++;
          continue;
        }
        if (run) yield run;
        run = { sector, nrSectors: 1, source: src };
      }
    }
    if (run) yield run;
  }

  /** Sectors ever set (touched), for sizing and reports. */
  get touchedSectors(): number {
    let n = 0;
    for (const p of this.pages.values()) for (const v of p) if (v !== UNTOUCHED) n++;
    return n;
  }
}
