// The timeline's data layer: entries binned into the plot's pixels (x = entry number or log
// byte offset, y = device sector), each cell counting the entries that cover it, per flag
// layer. A cell is coloured by the layer with most entries there and shaded by how many there
// are (log scale), so a million writes draw as a density map instead of a solid block, and a
// loop over the columns keeps that fluid where a million canvas calls would not be.

import { Flag } from '../format.ts';
import { entryAtOrAfter, type LogIndex } from '../entry-index/log-index.ts';
import { rowOf, type Rows } from '../browser/rows.ts';

export type XMode = 'entry' | 'bytes';

/** What an entry is drawn as; each can be hidden. */
export const DATA_LAYERS = ['write', 'fua', 'metadata', 'discard'] as const;
export type DataLayer = (typeof DATA_LAYERS)[number];
export type Layer = DataLayer | 'flush' | 'mark';
export const LAYERS: readonly Layer[] = [...DATA_LAYERS, 'flush', 'mark'];

/** The visible window: x in entries or log bytes, y in device sectors (y0 at the bottom), in a plot of width x height pixels. */
export interface PlotView {
  readonly mode: XMode;
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
  readonly width: number;
  readonly height: number;
}

/** Colours as 0xRRGGBB. */
export type LayerColours = Readonly<Record<DataLayer, number>>;

/** The layer an entry's data is drawn in: the strongest of its flags (plain writes, flags NONE, are 'write'). */
export function layerOf(flags: number): DataLayer {
  return DATA_LAYERS[layerIndex(flags)]!;
}

export function xOf(index: LogIndex, i: number, mode: XMode): number {
  return mode === 'entry' ? i : index.offset[i]!;
}

/** The whole x range of the log in this mode: entry i spans [i, i + 1). */
export function xExtent(index: LogIndex, mode: XMode, logEnd: number): [number, number] {
  return mode === 'entry'
    ? [0, Math.max(1, index.count)]
    : [index.offset[0] ?? 0, Math.max(logEnd, (index.offset[0] ?? 0) + 1)];
}

/** Entry numbers [lo, hi) whose x lies in [x0, x1]. */
export function entrySpan(index: LogIndex, mode: XMode, x0: number, x1: number): [number, number] {
  if (mode === 'entry') return [Math.max(0, Math.floor(x0)), Math.min(index.count, Math.floor(x1) + 1)];
  return [Math.max(0, entryAtOrAfter(index, x0) - 1), Math.min(index.count, entryAtOrAfter(index, x1 + 1))];
}

/** Rows [lo, hi) of `rows` whose entries lie in the view. */
function rowSpan(index: LogIndex, rows: Rows, v: PlotView): [number, number] {
  const [lo, hi] = entrySpan(index, v.mode, v.x0, v.x1);
  return rows ? [rowOf(rows, lo), rowOf(rows, hi)] : [lo, hi];
}

export interface Density {
  readonly width: number;
  readonly height: number;
  /** RGBA bytes as ImageData holds them, one u32 per pixel (0xAABBGGRR on little-endian machines); 0 where nothing is. */
  readonly pixels: Uint32Array;
  /** The most entries any cell holds. */
  readonly max: number;
}

/** Entries coloured by a class each (the timeline's "by structure" mode) instead of by flag. */
export interface ClassColouring {
  /** Per entry, an index into `colours`; entries with any other value are not drawn. */
  readonly of: Uint8Array;
  /** 0xRRGGBB per class; earlier classes win ties in a cell. */
  readonly colours: readonly number[];
  readonly hidden: ReadonlySet<number>;
}

/** Shading levels; few enough that neighbouring cells of similar density merge in an SVG. */
const LEVELS = 8;

/** DATA_LAYERS index of an entry's layer: discard, then FUA, then metadata, else write. */
function layerIndex(flags: number): number {
  return flags & Flag.DISCARD ? 3 : flags & Flag.FUA ? 1 : flags & Flag.METADATA ? 2 : 0;
}

/** DATA_LAYERS indices in the order they win ties: discard, then FUA, then metadata, then write. */
const LAYER_TIES = [3, 1, 2, 0];

/** Bin the entries of `rows` in the view into pixels, leaving out hidden layers (or classes, with `byClass`). */
export function bin(
  index: LogIndex,
  rows: Rows,
  v: PlotView,
  colours: LayerColours,
  hidden: ReadonlySet<Layer> = new Set(),
  byClass?: ClassColouring,
): Density {
  const { width: W, height: H } = v;
  const L = byClass ? byClass.colours.length : DATA_LAYERS.length;
  // Cell-major (the four layers of a cell side by side), so shading reads memory in order.
  const counts = new Uint32Array(W * H * L);
  const sx = W / (v.x1 - v.x0);
  const sy = H / (v.y1 - v.y0);
  const { flags, sector, nrSectors, offset } = index;
  const [lo, hi] = rowSpan(index, rows, v);
  const shown = byClass
    ? byClass.colours.map((_, k) => !byClass.hidden.has(k))
    : DATA_LAYERS.map((l) => !hidden.has(l));
  const gap = v.mode === 'entry' && sx >= 4 ? 1 : 0;
  for (let r = lo; r < hi; r++) {
    const i = rows ? rows[r]! : r;
    const len = nrSectors[i]!;
    if (len === 0) continue;
    const layer = byClass ? byClass.of[i]! : layerIndex(flags[i]!);
    if (!shown[layer]) continue;
    const start = v.mode === 'entry' ? i : offset[i]!;
    const end = v.mode === 'entry' ? i + 1 : (offset[i + 1] ?? start + 1);
    const left = Math.max(0, Math.floor((start - v.x0) * sx));
    const right = Math.min(W, Math.max(left + 1, Math.floor((end - v.x0) * sx) - gap));
    const top = Math.max(0, Math.floor(H - (sector[i]! + len - v.y0) * sy));
    // At least two pixels tall: a 4 KiB write on a big device must still be visible.
    const bottom = Math.min(H - 1, Math.max(top + 1, Math.ceil(H - (sector[i]! - v.y0) * sy) - 1));
    if (bottom < 0 || top >= H || left >= W) continue;
    for (let y = top; y <= bottom; y++)
      for (let at = (y * W + left) * L + layer, stop = (y * W + right) * L; at < stop; at += L) counts[at]!++;
  }
  if (byClass)
    return shade(
      counts,
      W,
      H,
      byClass.colours,
      byClass.colours.map((_, k) => k),
    );
  return shade(
    counts,
    W,
    H,
    DATA_LAYERS.map((l) => colours[l]),
    LAYER_TIES,
  );
}

/** Cells to pixels: the layer (of `colours.length`) with most entries, `ties` saying which wins a tie, shaded by the cell's total. */
function shade(
  counts: Uint32Array,
  W: number,
  H: number,
  colours: readonly number[],
  ties: readonly number[],
): Density {
  const cells = W * H;
  const L = colours.length;
  const totals = new Uint32Array(cells);
  const best = new Uint8Array(cells);
  let max = 0;
  for (let c = 0, at = 0; c < cells; c++, at += L) {
    let total = 0;
    for (let k = 0; k < L; k++) total += counts[at + k]!;
    if (total === 0) continue;
    totals[c] = total;
    if (total > max) max = total;
    let win = ties[0]!;
    for (let t = 1; t < L; t++) if (counts[at + ties[t]!]! > counts[at + win]!) win = ties[t]!;
    best[c] = win;
  }
  const pixels = new Uint32Array(cells);
  const rgba = colours.map((rgb) => {
    return ((rgb & 0xff) << 16) | (rgb & 0xff00) | ((rgb >> 16) & 0xff);
  });
  const alpha = Array.from({ length: LEVELS + 1 }, (_, k) => Math.round((0.4 + (0.6 * k) / LEVELS) * 255) << 24);
  // The level of each total below `small` looked up, not computed per cell.
  const logMax = Math.log1p(max);
  const levelOf = (t: number) => (max <= 1 ? LEVELS : Math.round((Math.log1p(t) / logMax) * LEVELS));
  const small = Math.min(max + 1, 4096);
  const levels = Uint8Array.from({ length: small }, (_, t) => levelOf(t));
  for (let c = 0; c < cells; c++) {
    const t = totals[c]!;
    if (t === 0) continue;
    pixels[c] = (alpha[t < small ? levels[t]! : levelOf(t)]! | rgba[best[c]!]!) >>> 0;
  }
  return { width: W, height: H, pixels, max };
}

/**
 * The entry under pixel (px, py) of the plot, or -1: among entries within `slop` pixels in x,
 * one whose sectors cover py, else the one nearest in y (within `slop`). Looks at most
 * `budget` entries; hidden layers (or hidden classes, with `byClass`) are not picked.
 */
export function pick(
  index: LogIndex,
  rows: Rows,
  v: PlotView,
  px: number,
  py: number,
  slop = 4,
  hidden: ReadonlySet<Layer> = new Set(),
  budget = 20000,
  byClass?: ClassColouring,
): number {
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
    const f = index.flags[i]!;
    if (len === 0) {
      if (best < 0 && ((f & Flag.MARK && !hidden.has('mark')) || (f & Flag.FLUSH && !hidden.has('flush')))) best = i;
      continue;
    }
    if (
      byClass
        ? !(byClass.of[i]! < byClass.colours.length) || byClass.hidden.has(byClass.of[i]!)
        : hidden.has(layerOf(f))
    )
      continue;
    const s = index.sector[i]!;
    const dist = sectorAt < s ? s - sectorAt : sectorAt > s + len ? sectorAt - (s + len) : 0;
    if (dist < bestDist || (dist === bestDist && dist === 0)) {
      best = i;
      bestDist = dist;
    }
  }
  return best;
}
