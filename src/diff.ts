// What changed on the device between two points of a log, sector by sector, and which
// entries did it. The device is taken to be zero before the log's first entry (logs start
// on a fresh device in practice); sectors rewritten with the bytes they already held are
// not changes.

import type { Entry, LogReader } from './reader.ts';
import { contentSource, SectorMap, UNTOUCHED, ZEROED } from './replay/sector-map.ts';

export interface ChangedRange {
  readonly sector: number;
  readonly nrSectors: number;
  /** Entries after point a, up to point b, that wrote or discarded part of this range. */
  readonly entries: number[];
}

export type Touch = Pick<Entry, 'index' | 'sector' | 'nrSectors'>;

/** The content a map says a sector has (zeros when discarded or never written). */
async function sectorBytes(reader: LogReader, map: SectorMap, sector: number, zeros: Uint8Array): Promise<Uint8Array> {
  const src = map.get(sector);
  return src === UNTOUCHED || src === ZEROED ? zeros : reader.source.read(src, reader.sectorSize);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Changed ranges between the state after entry `a` and the state after entry `b` (a < b; a = -1 is the empty device). */
export async function diffPoints(reader: LogReader, a: number, b: number): Promise<ChangedRange[]> {
  const S = reader.sectorSize;
  const before = new SectorMap(S);
  const after = new SectorMap(S);
  const touches: Touch[] = [];
  for await (const e of reader.entries()) {
    if (e.index > b) break;
    if (!e.nrSectors) continue;
    const source = contentSource(e);
    if (e.index <= a) before.set(e.sector, e.nrSectors, source);
    else {
      after.set(e.sector, e.nrSectors, source);
      touches.push({ index: e.index, sector: e.sector, nrSectors: e.nrSectors });
    }
  }
  const zeros = new Uint8Array(S);
  const changed: { sector: number; nrSectors: number }[] = [];
  for (const x of after.extents()) {
    for (let s = x.sector; s < x.sector + x.nrSectors; s++) {
      const [old, now] = await Promise.all([
        sectorBytes(reader, before, s, zeros),
        sectorBytes(reader, after, s, zeros),
      ]);
      if (equal(old, now)) continue;
      const last = changed[changed.length - 1];
      if (last && last.sector + last.nrSectors === s) last.nrSectors++;
      else changed.push({ sector: s, nrSectors: 1 });
    }
  }
  return attribute(changed, touches);
}

/** Each changed range with the entries (of `touches`, in log order) that wrote or discarded part of it. */
export function attribute(
  changed: readonly { sector: number; nrSectors: number }[],
  touches: Iterable<Touch>,
): ChangedRange[] {
  // Each touch finds its first changed range by bisection and walks the ranges it covers.
  const result: ChangedRange[] = changed.map((r) => ({ sector: r.sector, nrSectors: r.nrSectors, entries: [] }));
  for (const t of touches) {
    let lo = 0;
    let hi = result.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (result[mid]!.sector + result[mid]!.nrSectors <= t.sector) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < result.length && result[i]!.sector < t.sector + t.nrSectors; i++)
      result[i]!.entries.push(t.index);
  }
  return result;
}
