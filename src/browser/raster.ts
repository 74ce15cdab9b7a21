// The timeline plot's data path: entries straight into a pixel buffer (one u32 per pixel),
// x = entry number or log byte offset, y = device sector. Writing pixels in a loop over the
// columns keeps a million points fluid where a million canvas calls would not be.

import { Flag } from '../format.ts';
import { entryAtOrAfter, type LogIndex } from '../log-index.ts';
import { rowOf, type Rows } from './rows.ts';

export type XMode = 'entry' | 'bytes';

/** The visible window: x in entries or log bytes, y in device sectors (y0 at the bottom). */
export interface PlotView {
  readonly mode: XMode;
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
  readonly width: number;
  readonly height: number;
}

/** Pixel colours as ImageData stores them on little-endian machines: 0xAABBGGRR. */
export interface Palette {
  readonly write: number;
  readonly fua: number;
  readonly discard: number;
  readonly metadata: number;
  readonly flush: number;
}

export function colourOf(flags: number, p: Palette): number {
  if (flags & Flag.DISCARD) return p.discard;
  if (flags & Flag.FUA) return p.fua;
  if (flags & Flag.METADATA) return p.metadata;
  return p.write;
}

export function xOf(index: LogIndex, i: number, mode: XMode): number {
  return mode === 'entry' ? i : index.offset[i]!;
}

/** The whole x range of the log in this mode. */
export function xExtent(index: LogIndex, mode: XMode, logEnd: number): [number, number] {
  return mode === 'entry' ? [0, Math.max(1, index.count)] : [index.offset[0] ?? 0, Math.max(logEnd, (index.offset[0] ?? 0) + 1)];
}

/** Entry numbers [lo, hi) whose x lies in [x0, x1]. */
function entrySpan(index: LogIndex, mode: XMode, x0: number, x1: number): [number, number] {
  if (mode === 'entry') return [Math.max(0, Math.floor(x0)), Math.min(index.count, Math.floor(x1) + 1)];
  return [Math.max(0, entryAtOrAfter(index, x0) - 1), Math.min(index.count, entryAtOrAfter(index, x1 + 1))];
}

/** Rows [lo, hi) of `rows` whose entries lie in the view. */
function rowSpan(index: LogIndex, rows: Rows, v: PlotView): [number, number] {
  const [lo, hi] = entrySpan(index, v.mode, v.x0, v.x1);
  return rows ? [rowOf(rows, lo), rowOf(rows, hi)] : [lo, hi];
}

/** Fill `out` (width * height pixels) with the entries of `rows` that fall in the view. */
export function rasterize(index: LogIndex, rows: Rows, v: PlotView, p: Palette, out: Uint32Array): void {
  out.fill(0);
  const { width: W, height: H } = v;
  const sx = W / (v.x1 - v.x0);
  const sy = H / (v.y1 - v.y0);
  const { flags, sector, nrSectors, offset } = index;
  const [lo, hi] = rowSpan(index, rows, v);
  const column = (x: number, top: number, bottom: number, w: number, colour: number) => {
    const t = Math.max(0, top);
    const b = Math.min(H - 1, bottom);
    const r = Math.min(W, x + w);
    for (let px = Math.max(0, x); px < r; px++) for (let y = t; y <= b; y++) out[y * W + px] = colour;
  };
  // Flushes first, as full-height rules, so the writes stay readable on top of them.
  for (let r = lo; r < hi; r++) {
    const i = rows ? rows[r]! : r;
    if (flags[i]! & Flag.FLUSH) column(Math.floor((xOf(index, i, v.mode) - v.x0) * sx), 0, H - 1, 1, p.flush);
  }
  const entryWidth = v.mode === 'entry' ? Math.max(1, Math.floor(sx) - (sx >= 4 ? 1 : 0)) : 0;
  for (let r = lo; r < hi; r++) {
    const i = rows ? rows[r]! : r;
    const len = nrSectors[i]!;
    if (len === 0) continue;
    const x = Math.floor((xOf(index, i, v.mode) - v.x0) * sx);
    const w = entryWidth || Math.max(1, Math.floor(((offset[i + 1] ?? offset[i]! + 1) - offset[i]!) * sx));
    const top = Math.floor(H - (sector[i]! + len - v.y0) * sy);
    // At least two pixels tall: a 4 KiB write on a big device must still be visible.
    const bottom = Math.max(top + 1, Math.ceil(H - (sector[i]! - v.y0) * sy) - 1);
    if (bottom < 0 || top >= H) continue;
    column(x, top, bottom, w, colourOf(flags[i]!, p));
  }
}

/**
 * The entry under pixel (px, py), or -1: among entries within `slop` pixels in x, one whose
 * sectors cover py, else the one nearest in y (within `slop`). Looks at most `budget` entries.
 */
export function pick(index: LogIndex, rows: Rows, v: PlotView, px: number, py: number, slop = 4, budget = 20000): number {
  const sx = v.width / (v.x1 - v.x0);
  const sy = v.height / (v.y1 - v.y0);
  const xAt = (p: number) => v.x0 + p / sx;
  const [lo, hi] = rowSpan(index, rows, { ...v, x0: xAt(px - slop), x1: xAt(px + slop) });
  const sectorAt = v.y0 + (v.height - py) / sy;
  let best = -1;
  let bestDist = slop / sy;
  for (let r = lo; r < Math.min(hi, lo + budget); r++) {
    const i = rows ? rows[r]! : r;
    const len = index.nrSectors[i]!;
    if (len === 0) {
      if (best < 0 && index.flags[i]! & (Flag.MARK | Flag.FLUSH)) best = i;
      continue;
    }
    const s = index.sector[i]!;
    const dist = sectorAt < s ? s - sectorAt : sectorAt > s + len ? sectorAt - (s + len) : 0;
    if (dist < bestDist || (dist === bestDist && dist === 0)) {
      best = i;
      bestDist = dist;
    }
  }
  return best;
}
