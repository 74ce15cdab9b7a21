// The timeline as a scene: what to draw where, in pixels, independent of how it is drawn.
// The viewer paints it on a canvas (web/plot.ts) and `logwrites plot` writes it as SVG
// (timeline/svg.ts), so both show the same binned entries, epochs, marks and rulers.
//
//   mark labels (right-aligned at their rule, over the step the mark ends; two rows)
//   FLUSH strip (a tick per flush, the durable prefix tinted)
//   sector ruler | plot: epochs, past-nr_entries band, density, mark rules, selection
//                | entry (or log byte) ruler, the last entry named

import { Flag } from '../format.ts';
import type { LogIndex } from '../entry-index/log-index.ts';
import type { Rows } from '../browser/rows.ts';
import {
  bin,
  entrySpan,
  xOf,
  type ClassColouring,
  type Density,
  type Layer,
  type LayerColours,
  type PlotView,
} from './density.ts';
import { STRUCTURE_CLASSES } from '../fs/classes.ts';
import type { WhatClass } from '../fs/what.ts';

/** Colour roles; painters map them to colours (the page's CSS, the SVG's palette). */
export type Role = Layer | 'ink' | 'muted' | 'grid' | 'bg' | 'durable' | 'trailing' | 'select' | 'epoch';
export type Palette = Readonly<Record<Role, string>>;

/** The light palette of the page (web/styles.css), for painters without CSS. */
export const LIGHT: Palette = {
  write: '#3b7ddd',
  fua: '#e8870e',
  discard: '#d63c3c',
  metadata: '#8e4ec6',
  flush: '#9aa3b2',
  mark: '#1f9d6a',
  ink: '#1c2230',
  muted: '#667085',
  grid: '#e2e5eb',
  bg: '#fbfcfd',
  durable: '#2e9e5b',
  trailing: '#c62a2a',
  select: '#2f6fde',
  epoch: '#8a94a6',
};

/** The colour of each structure class (the "by structure" mode), the same in the page and the SVG. */
// Tableau's ten-colour set (nine of it), distinct at a glance; none is the MARK green.
export const CLASS_COLOURS: Readonly<Record<WhatClass, string>> = {
  superblock: '#d62728',
  group: '#ff7f0e',
  bitmap: '#bcbd22',
  inodes: '#9467bd',
  journal: '#8c564b',
  btree: '#17becf',
  directory: '#e377c2',
  data: '#1f77b4',
  unknown: '#c7c7c7',
};

export type Shape =
  | {
      readonly kind: 'rect';
      readonly x: number;
      readonly y: number;
      readonly w: number;
      readonly h: number;
      readonly role: Role;
      readonly opacity: number;
    }
  | {
      readonly kind: 'line';
      readonly x1: number;
      readonly y1: number;
      readonly x2: number;
      readonly y2: number;
      readonly role: Role;
      readonly width: number;
      readonly dash?: readonly number[];
    }
  | {
      readonly kind: 'text';
      readonly x: number;
      readonly y: number;
      readonly text: string;
      readonly role: Role;
      readonly size: number;
      readonly align: 'left' | 'right' | 'center';
      readonly bg?: Role;
    }
  /** Where the density image goes in the paint order (it fills the plot area). */
  | { readonly kind: 'density' };

export interface Rect {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

export interface Scene {
  readonly width: number;
  readonly height: number;
  /** The plot area; `view` maps it to entries and sectors. */
  readonly plot: Rect;
  readonly view: PlotView;
  readonly density: Density;
  /** In paint order; text `y` is the top of the text. */
  readonly shapes: readonly Shape[];
  /** What the picture cannot show itself: hidden labels, the durable prefix, entries past nr_entries. */
  readonly notes: readonly string[];
  readonly marksShown: number;
  readonly marksInView: number;
}

export interface SceneInput {
  readonly index: LogIndex;
  /** Where the walk ended (the x extent in bytes mode). */
  readonly logEnd: number;
  readonly rows: Rows;
  /** The visible window, as PlotView has it (the size is the picture's, below). */
  readonly window: Omit<PlotView, 'width' | 'height'>;
  /** The whole picture, in device pixels. */
  readonly width: number;
  readonly height: number;
  /** Device pixels per CSS pixel: margins and text scale with it. */
  readonly scale: number;
  readonly palette: Palette;
  /** Width in device pixels of `text` at `size` device pixels. */
  readonly measure: (text: string, size: number) => number;
  readonly hidden?: ReadonlySet<Layer>;
  /** A range of x (entries or bytes) to highlight. */
  readonly selection?: readonly [number, number];
  /** The selected entry, or -1; the durable prefix is shown as of it (else as of the last entry). */
  readonly selected?: number;
  /** Colour entries by structure class (src/fs/classes.ts) instead of by flag; data-layer `hidden` then does not apply. */
  readonly byClass?: { readonly classes: Uint8Array; readonly hidden: ReadonlySet<WhatClass> };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');

/** A tick step of 1, 2 or 5 times a power of ten, giving at most `count` ticks over `span`. */
export function niceStep(span: number, count: number, min = 0): number {
  const raw = Math.max(span / Math.max(1, count), min, Number.MIN_VALUE);
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  return Math.max(step, min);
}

/** A short size for a ruler: 512 MiB, 1.5 GiB, 4 KiB, 300 B. */
export function sizeLabel(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toFixed(2))} ${units[u]}`;
}

/** Binary steps for byte rulers, so ticks land on 1 MiB, 256 MiB and so on. */
function byteStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  return 2 ** Math.ceil(Math.log2(Math.max(1, raw)));
}

export function buildScene(inp: SceneInput): Scene {
  const { index, scale: s, measure, palette } = inp;
  const w = inp.window;
  const hidden = inp.hidden ?? new Set<Layer>();
  const font = 11 * s;
  const lh = 14 * s;
  const shapes: Shape[] = [];
  const notes: string[] = [];

  // The sector ruler's widest label sets the left margin.
  const yCount = Math.max(2, Math.floor(inp.height / (28 * s)));
  const yStep = niceStep(w.y1 - w.y0, yCount, 1);
  const yTicks: number[] = [];
  for (let v = Math.ceil(w.y0 / yStep) * yStep; v <= w.y1; v += yStep) yTicks.push(v);
  const left = Math.ceil(Math.max(measure('sector', font), ...yTicks.map((v) => measure(int(v), font))) + 10 * s);
  const marksInWindow = hidden.has('mark')
    ? []
    : index.marks.filter(
        (m) => m.index >= entrySpan(index, w.mode, w.x0, w.x1)[0] && xOf(index, m.index, w.mode) <= w.x1,
      );
  const labelRows = marksInWindow.length ? (inp.height >= 220 * s ? 2 : 1) : 0;
  const stripH = hidden.has('flush') ? 0 : 8 * s;
  const top = Math.round(labelRows * lh + stripH + 4 * s);
  const bottom = Math.round(lh + 6 * s);
  const right = Math.round(12 * s);
  const plot: Rect = {
    left,
    top,
    width: Math.max(1, inp.width - left - right),
    height: Math.max(1, inp.height - top - bottom),
  };
  const view: PlotView = { ...w, width: plot.width, height: plot.height };
  const sx = plot.width / (w.x1 - w.x0);
  const sy = plot.height / (w.y1 - w.y0);
  const entryX = (i: number) => plot.left + (xOf(index, i, w.mode) + (w.mode === 'entry' ? 0.5 : 0) - w.x0) * sx;
  const inPlot = (x: number) => x >= plot.left - 1 && x <= plot.left + plot.width + 1;
  const crisp = (x: number) => Math.round(x) + 0.5;
  const plotBottom = plot.top + plot.height;
  const clampX = (x: number) => Math.min(plot.left + plot.width, Math.max(plot.left, x));

  shapes.push({ kind: 'rect', x: plot.left, y: plot.top, w: plot.width, h: plot.height, role: 'bg', opacity: 1 });

  // Grid and rulers.
  for (const v of yTicks) {
    const y = crisp(plotBottom - (v - w.y0) * sy);
    shapes.push({ kind: 'line', x1: plot.left, y1: y, x2: plot.left + plot.width, y2: y, role: 'grid', width: s });
    shapes.push({ kind: 'line', x1: plot.left - 4 * s, y1: y, x2: plot.left, y2: y, role: 'muted', width: s });
    shapes.push({
      kind: 'text',
      x: plot.left - 6 * s,
      y: Math.min(plotBottom - font, Math.max(plot.top, y - font / 2)),
      text: int(v),
      role: 'muted',
      size: font,
      align: 'right',
    });
  }
  shapes.push({
    kind: 'text',
    x: 2 * s,
    y: Math.max(0, plot.top - lh),
    text: 'sector',
    role: 'muted',
    size: font,
    align: 'left',
  });
  const xLabel = (v: number) => (w.mode === 'entry' ? int(v) : sizeLabel(v));
  const sample = w.mode === 'entry' ? int(Math.max(1, index.count - 1)) : '999.99 MiB';
  const xCount = Math.max(2, Math.floor(plot.width / (measure(sample, font) + 24 * s)));
  const xStep = w.mode === 'entry' ? niceStep(w.x1 - w.x0, xCount, 1) : byteStep(w.x1 - w.x0, xCount);
  const lastEntry = index.count - 1;
  // The log's end, named, wherever it is in view; ticks give way to it.
  const end =
    w.mode === 'entry'
      ? { x: entryX(lastEntry), text: `last ${int(lastEntry)}` }
      : { x: plot.left + (inp.logEnd - w.x0) * sx, text: `end ${sizeLabel(inp.logEnd)}` };
  const endShown = lastEntry >= 0 && inPlot(end.x);
  const endLeft = endShown ? Math.min(end.x, plot.left + plot.width) - measure(end.text, font) : Infinity;
  let free = -Infinity;
  const axisY = plotBottom + 4 * s;
  for (let v = Math.ceil(w.x0 / xStep) * xStep; v < w.x1; v += xStep) {
    if (w.mode === 'entry' && v > lastEntry) break;
    const x = crisp(w.mode === 'entry' ? entryX(v) : plot.left + (v - w.x0) * sx);
    if (!inPlot(x)) continue;
    shapes.push({ kind: 'line', x1: x, y1: plot.top, x2: x, y2: plotBottom, role: 'grid', width: s });
    shapes.push({ kind: 'line', x1: x, y1: plotBottom, x2: x, y2: plotBottom + 3 * s, role: 'muted', width: s });
    const text = xLabel(v);
    const half = measure(text, font) / 2;
    if (x - half < free || x + half > endLeft - 8 * s || x + half > inp.width) continue;
    shapes.push({
      kind: 'text',
      x: Math.max(x, plot.left + half),
      y: axisY,
      text,
      role: 'muted',
      size: font,
      align: 'center',
    });
    free = x + half + 10 * s;
  }
  if (endShown)
    shapes.push({
      kind: 'text',
      x: Math.min(end.x + measure(end.text, font) / 2, plot.left + plot.width),
      y: axisY,
      text: end.text,
      role: 'ink',
      size: font,
      align: 'right',
    });
  shapes.push({
    kind: 'text',
    x: 2 * s,
    y: axisY,
    text: w.mode === 'entry' ? 'entry' : 'log',
    role: 'muted',
    size: font,
    align: 'left',
  });

  // Entries the super does not count: replay stops before them.
  if (index.count > index.nrEntries) {
    const from = clampX(entryX(index.nrEntries) - (w.mode === 'entry' ? 0.5 * sx : 0));
    const to = plot.left + plot.width;
    if (from < to) {
      shapes.push({ kind: 'rect', x: from, y: plot.top, w: to - from, h: plot.height, role: 'trailing', opacity: 0.1 });
      const label = 'past nr_entries';
      if (to - from > measure(label, font) + 8 * s)
        shapes.push({
          kind: 'text',
          x: from + 4 * s,
          y: plot.top + 3 * s,
          text: label,
          role: 'trailing',
          size: font,
          align: 'left',
        });
    }
    notes.push(
      `entries ${int(index.nrEntries)}–${int(index.count - 1)} are past nr_entries (${int(index.nrEntries)}): a replay stops before them`,
    );
  }

  if (!hidden.has('flush'))
    epochs(inp, { plot, sx, entryX, clampX, crisp, stripTop: top - stripH - 2 * s, stripH }, shapes, notes);

  shapes.push({ kind: 'density' });
  const density = bin(index, inp.rows, view, layerColours(palette), hidden, inp.byClass && classColouring(inp.byClass));

  // Mark rules and labels: a label sits left of its rule (over the step the mark ends), in the
  // first row where it overlaps nothing; one that fits nowhere is counted, not drawn over another.
  // Labels go on a background of their own, over the rules of marks labelled in rows above.
  let shown = 0;
  const rowFree = Array.from({ length: labelRows }, () => 0);
  let lastRule = NaN;
  const labels: Shape[] = [];
  for (const m of marksInWindow) {
    const x = crisp(entryX(m.index));
    if (!inPlot(x)) continue;
    const width = measure(m.text, font);
    const row = rowFree.findIndex((f) => x - 3 * s - width >= f);
    const labelled = row >= 0;
    if (labelled) {
      rowFree[row] = x + 2 * s;
      labels.push({
        kind: 'text',
        x: x - 2 * s,
        y: row * lh + 1 * s,
        text: m.text,
        role: 'mark',
        size: font,
        align: 'right',
        bg: 'bg',
      });
      shown++;
    }
    if (x !== lastRule || labelled)
      shapes.push({
        kind: 'line',
        x1: x,
        y1: labelled ? row * lh + 1 * s : plot.top,
        x2: x,
        y2: plotBottom,
        role: 'mark',
        width: s,
        dash: [4 * s, 3 * s],
      });
    lastRule = x;
  }
  shapes.push(...labels);
  if (shown < marksInWindow.length)
    notes.push(
      `${int(marksInWindow.length - shown)} of ${int(marksInWindow.length)} mark labels hidden where they would overlap (zoom in, or see the marks panel)`,
    );

  if (inp.selection) {
    const [a, b] = inp.selection;
    const xa = clampX(plot.left + (a - w.x0) * sx);
    const xb = clampX(plot.left + (b - w.x0) * sx);
    if (xb > xa) {
      shapes.push({
        kind: 'rect',
        x: xa,
        y: plot.top,
        w: Math.max(s, xb - xa),
        h: plot.height,
        role: 'select',
        opacity: 0.14,
      });
      for (const x of [xa, xb])
        shapes.push({
          kind: 'line',
          x1: crisp(x),
          y1: plot.top,
          x2: crisp(x),
          y2: plotBottom,
          role: 'select',
          width: s,
        });
    }
  }
  const sel = inp.selected ?? -1;
  if (sel >= 0 && sel < index.count) {
    const x = crisp(entryX(sel));
    if (inPlot(x)) shapes.push({ kind: 'line', x1: x, y1: plot.top, x2: x, y2: plotBottom, role: 'ink', width: s });
  }
  return {
    width: inp.width,
    height: inp.height,
    plot,
    view,
    density,
    shapes,
    notes,
    marksShown: shown,
    marksInView: marksInWindow.length,
  };
}

interface Frame {
  readonly plot: Rect;
  readonly sx: number;
  readonly entryX: (i: number) => number;
  readonly clampX: (x: number) => number;
  readonly crisp: (x: number) => number;
  readonly stripTop: number;
  readonly stripH: number;
}

/** CSS pixels a flush needs on either side to be drawn as a line across the plot (closer ones are ticks in the strip only). */
const EPOCH_MIN_PX = 8;

/**
 * Flushes split the log into epochs: a FLUSH entry means every write logged before it is on
 * stable storage. The strip above the plot has a tick per flush, and tints the durable prefix
 * (up to the last flush at or before the selected entry, or the log's last entry). Where
 * flushes are sparse enough to tell apart they are also lines across the plot, with every
 * other epoch shaded.
 */
function epochs(inp: SceneInput, f: Frame, shapes: Shape[], notes: string[]): void {
  const { index, scale: s } = inp;
  const w = inp.window;
  const [lo, hi] = entrySpan(index, w.mode, w.x0, w.x1);
  const xs: number[] = [];
  let before = 0;
  for (let i = 0; i < lo; i++) if (index.flags[i]! & Flag.FLUSH) before++;
  for (let i = lo; i < hi; i++) if (index.flags[i]! & Flag.FLUSH) xs.push(f.entryX(i));
  const visible = (x: number) => x >= f.plot.left - 1 && x <= f.plot.left + f.plot.width + 1;
  const point =
    inp.selected !== undefined && inp.selected >= 0 ? Math.min(inp.selected, index.count - 1) : index.count - 1;
  let durable = -1;
  for (let i = point; i >= 0; i--) {
    if (index.flags[i]! & Flag.FLUSH) {
      durable = i;
      break;
    }
  }
  const right = f.plot.left + f.plot.width;
  shapes.push({
    kind: 'rect',
    x: f.plot.left,
    y: f.stripTop,
    w: f.plot.width,
    h: f.stripH,
    role: 'grid',
    opacity: 0.6,
  });
  if (durable >= 0) {
    const dx = f.clampX(f.entryX(durable));
    if (dx > f.plot.left) {
      shapes.push({
        kind: 'rect',
        x: f.plot.left,
        y: f.stripTop,
        w: dx - f.plot.left,
        h: f.stripH,
        role: 'durable',
        opacity: 0.35,
      });
      shapes.push({
        kind: 'rect',
        x: f.plot.left,
        y: f.plot.top,
        w: dx - f.plot.left,
        h: f.plot.height,
        role: 'durable',
        opacity: 0.05,
      });
    }
  }
  const of = point === index.count - 1 ? 'the last entry' : `entry ${int(point)}`;
  notes.push(
    durable >= 0
      ? `durable prefix as of ${of}: entries 0–${int(durable)} (the FLUSH at ${int(durable)})`
      : `no FLUSH at or before ${of}: nothing is durable yet but FUA writes`,
  );
  // Every other epoch wide enough to see is shaded, counted from the log's start so that
  // panning keeps the pattern; a flush with room on both sides is also a line across the plot.
  const room = EPOCH_MIN_PX * s;
  const edge = (k: number) => f.clampX(k < 0 ? f.plot.left : k >= xs.length ? right : xs[k]!);
  for (let k = 0; k <= xs.length; k++) {
    const [a, b] = [edge(k - 1), edge(k)];
    if ((before + k) % 2 === 1 && b - a >= room)
      shapes.push({ kind: 'rect', x: a, y: f.plot.top, w: b - a, h: f.plot.height, role: 'epoch', opacity: 0.06 });
  }
  let last = NaN;
  xs.forEach((x0, k) => {
    if (!visible(x0)) return;
    const x = f.crisp(x0);
    if (x !== last)
      shapes.push({ kind: 'line', x1: x, y1: f.stripTop, x2: x, y2: f.stripTop + f.stripH, role: 'flush', width: s });
    last = x;
    const apart = (k === 0 || x0 - xs[k - 1]! >= room) && (k === xs.length - 1 || xs[k + 1]! - x0 >= room);
    if (apart)
      shapes.push({
        kind: 'line',
        x1: x,
        y1: f.plot.top,
        x2: x,
        y2: f.plot.top + f.plot.height,
        role: 'flush',
        width: s,
        dash: [2 * s, 2 * s],
      });
  });
}

function layerColours(p: Palette): LayerColours {
  return { write: rgb(p.write), fua: rgb(p.fua), metadata: rgb(p.metadata), discard: rgb(p.discard) };
}

const rgb = (c: string) => parseInt(c.replace('#', ''), 16);

/** The density's form of a "by structure" colouring (for binning and picking). */
export function classColouring(c: NonNullable<SceneInput['byClass']>): ClassColouring {
  const hidden = new Set<number>();
  STRUCTURE_CLASSES.forEach((k, i) => c.hidden.has(k) && hidden.add(i));
  return { of: c.classes, colours: STRUCTURE_CLASSES.map((k) => rgb(CLASS_COLOURS[k])), hidden };
}
