// The Timeline panel: the scene of src/timeline (binned entries, epochs, marks, rulers) painted
// on a canvas; wheel or keys to zoom, drag to pan, Shift+drag to select a range (its totals
// per flag show below), hover to identify, click to select. The legend hides and shows layers.

import { Flag } from '../src/format.ts';
import { entryAtOrAfter, entryFlagNames, type LogIndex } from '../src/entry-index/log-index.ts';
import { stepStats, type StepStats } from '../src/entry-index/steps.ts';
import { LAYERS, pick, xExtent, xOf, type Layer, type XMode } from '../src/timeline/density.ts';
import { buildScene, CLASS_COLOURS, classColouring, type Palette, type Scene } from '../src/timeline/scene.ts';
import { STRUCTURE_CLASSES } from '../src/fs/classes.ts';
import type { WhatClass } from '../src/fs/what.ts';
import type { App } from './app.ts';
import { byId, bytes, h, int } from './dom.ts';
import { MARK_PLOTTED } from './open.ts';

interface Window {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** The page's colours for each scene role (web/styles.css). */
function palette(): Palette {
  const v = (name: string) => css(`--${name}`);
  return {
    write: v('write'),
    fua: v('fua'),
    discard: v('discard'),
    metadata: v('metadata'),
    flush: v('flush'),
    mark: v('mark'),
    ink: v('ink'),
    muted: v('muted'),
    grid: v('line'),
    bg: v('plot-bg'),
    durable: v('durable'),
    trailing: v('error'),
    select: v('accent'),
    epoch: v('muted'),
  };
}

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif';
const LEGEND: Record<Layer, string> = {
  write: 'NONE',
  fua: 'FUA',
  metadata: 'METADATA',
  discard: 'DISCARD',
  flush: 'FLUSH',
  mark: 'MARK',
};

/** Paint a scene; `spare` holds the density image so that it composites over what is below. */
function paint(ctx: CanvasRenderingContext2D, scene: Scene, p: Palette, spare: HTMLCanvasElement): void {
  ctx.clearRect(0, 0, scene.width, scene.height);
  ctx.textBaseline = 'top';
  for (const sh of scene.shapes) {
    switch (sh.kind) {
      case 'rect':
        ctx.globalAlpha = sh.opacity;
        ctx.fillStyle = p[sh.role];
        ctx.fillRect(sh.x, sh.y, sh.w, sh.h);
        ctx.globalAlpha = 1;
        break;
      case 'line':
        ctx.strokeStyle = p[sh.role];
        ctx.lineWidth = sh.width;
        ctx.setLineDash(sh.dash ? [...sh.dash] : []);
        ctx.beginPath();
        ctx.moveTo(sh.x1, sh.y1);
        ctx.lineTo(sh.x2, sh.y2);
        ctx.stroke();
        break;
      case 'text':
        ctx.font = `${sh.size}px ${FONT}`;
        ctx.textAlign = sh.align;
        if (sh.bg) {
          const { left, width } = textBox(ctx, sh.text, sh.x, sh.align);
          ctx.fillStyle = p[sh.bg];
          ctx.fillRect(left - 2, sh.y - 1, width + 4, sh.size + 3);
        }
        ctx.fillStyle = p[sh.role];
        ctx.fillText(sh.text, sh.x, sh.y);
        break;
      case 'density': {
        const d = scene.density;
        if (spare.width !== d.width || spare.height !== d.height) [spare.width, spare.height] = [d.width, d.height];
        const image = new ImageData(
          new Uint8ClampedArray(d.pixels.buffer as ArrayBuffer, d.pixels.byteOffset, d.pixels.byteLength),
          d.width,
          d.height,
        );
        spare.getContext('2d')!.putImageData(image, 0, 0);
        ctx.drawImage(spare, scene.plot.left, scene.plot.top);
        break;
      }
    }
  }
  ctx.setLineDash([]);
}

function textBox(
  ctx: CanvasRenderingContext2D,
  text: string,
  x: number,
  align: 'left' | 'right' | 'center',
): { left: number; width: number } {
  const width = ctx.measureText(text).width;
  return { left: align === 'left' ? x : align === 'right' ? x - width : x - width / 2, width };
}

/** Entries whose x lies in [a, b] (entry mode: entry i spans [i, i + 1)), inclusive; lo > hi when none. */
function entriesIn(index: LogIndex, mode: XMode, a: number, b: number): [number, number] {
  if (mode === 'entry') return [Math.max(0, Math.floor(a)), Math.min(index.count - 1, Math.ceil(b) - 1)];
  return [entryAtOrAfter(index, a), entryAtOrAfter(index, b) - 1];
}

function selectionText(s: StepStats): string {
  return [
    `entries ${int(s.from)}–${int(s.to)} (${int(s.entries)})`,
    `${int(s.writes)} write${s.writes === 1 ? '' : 's'} (${bytes(s.bytes)})`,
    `FLUSH ${int(s.flushes)}`,
    `FUA ${int(s.fuas)}`,
    `DISCARD ${int(s.discards)}${s.discards ? ` (${bytes(s.discardedBytes)})` : ''}`,
    `METADATA ${int(s.metadata)}`,
    `MARK ${int(s.marks)}`,
    `${int(s.sectorsTouched)} sectors touched`,
    ...(s.pastEnd ? [`${int(s.pastEnd)} past nr_entries`] : []),
  ].join(' · ');
}

export function mountPlot(app: App): void {
  const box = byId('plot');
  const canvas = byId<HTMLCanvasElement>('plot-canvas');
  const spare = document.createElement('canvas');
  const tip = byId('plot-tip');
  const notes = byId('plot-notes');
  const selectionLine = byId('plot-selection');
  const zoomSel = byId<HTMLButtonElement>('plot-zoom-selection');
  const modeSelect = byId<HTMLSelectElement>('plot-mode');
  const ctx = canvas.getContext('2d')!;
  let mode: XMode = 'entry';
  let view: Window = { x0: 0, x1: 1, y0: 0, y1: 1 };
  let colours = palette();
  let scene: Scene | undefined;
  let queued = false;
  const hidden = new Set<Layer>();
  let selection: [number, number] | undefined;

  const colourSelect = byId<HTMLSelectElement>('plot-colour');
  /** Entry classes while the timeline is coloured by structure. */
  let byClass: { classes: Uint8Array; hidden: Set<WhatClass> } | undefined;
  /** Why the structure mode is off, shown with the notes. */
  let colourNote = '';

  const toggle = (k: string, has: () => boolean, flip: () => void, label: string, title: string, colour: string) =>
    h(
      'button',
      {
        type: 'button',
        class: 'layer',
        'data-layer': k,
        'aria-pressed': String(!has()),
        title,
        onclick: (ev: Event) => {
          flip();
          (ev.currentTarget as HTMLButtonElement).setAttribute('aria-pressed', String(!has()));
          redraw();
        },
      },
      h('span', { class: 'chip', style: `background: ${colour}` }),
      label,
    );
  const flipLayer = (k: Layer) => () => (hidden.has(k) ? hidden.delete(k) : hidden.add(k));
  const layerButton = (k: Layer) =>
    toggle(
      k,
      () => hidden.has(k),
      flipLayer(k),
      LEGEND[k],
      k === 'write' ? 'show or hide plain writes (flags NONE)' : `show or hide ${LEGEND[k]}`,
      `var(--${k})`,
    );
  /** By flag: the flag layers; by structure: the classes, then FLUSH and MARK. */
  const legend = () => {
    const c = byClass;
    const buttons = c
      ? [
          ...STRUCTURE_CLASSES.map((k) =>
            toggle(
              k,
              () => c.hidden.has(k),
              () => (c.hidden.has(k) ? c.hidden.delete(k) : c.hidden.add(k)),
              k,
              `show or hide entries that wrote mostly ${k} blocks`,
              CLASS_COLOURS[k],
            ),
          ),
          ...(['flush', 'mark'] as const).map(layerButton),
        ]
      : LAYERS.map(layerButton);
    byId('legend').replaceChildren(...buttons);
  };
  legend();
  const setColour = async () => {
    colourNote = '';
    if (colourSelect.value === 'structure' && app.loaded) {
      const r = await app.worker.call('classes', {}).done;
      if (r.fs) byClass = { classes: r.classes, hidden: new Set() };
      else {
        colourNote = 'no file system recognised on the device: colouring by flag';
        colourSelect.value = 'flag';
        byClass = undefined;
      }
    } else byClass = undefined;
    legend();
    redraw();
  };
  colourSelect.addEventListener('change', () => void setColour());

  const dpr = () => window.devicePixelRatio || 1;
  const extent = (): Window => {
    const { index, summary } = app.loaded!;
    const [x0, x1] = xExtent(index, mode, summary.bytesIndexed);
    return { x0, x1, y0: 0, y1: Math.max(1, summary.deviceSectors) };
  };

  const draw = () => {
    queued = false;
    const loaded = app.loaded;
    if (!loaded) return;
    const s = dpr();
    const width = Math.max(1, Math.round(canvas.clientWidth * s));
    const height = Math.max(1, Math.round(canvas.clientHeight * s));
    if (canvas.width !== width || canvas.height !== height) [canvas.width, canvas.height] = [width, height];
    scene = buildScene({
      index: loaded.index,
      logEnd: loaded.summary.bytesIndexed,
      rows: app.rows,
      window: { mode, ...view },
      width,
      height,
      scale: s,
      palette: colours,
      measure: (text, size) => {
        ctx.font = `${size}px ${FONT}`;
        return ctx.measureText(text).width;
      },
      hidden,
      ...(selection ? { selection } : {}),
      selected: app.selected,
      ...(byClass && { byClass }),
    });
    paint(ctx, scene, colours, spare);
    // The window, for tests and anyone scripting the page.
    Object.assign(canvas.dataset, {
      x0: String(view.x0),
      x1: String(view.x1),
      y0: String(view.y0),
      y1: String(view.y1),
    });
    notes.replaceChildren(...[...(colourNote ? [colourNote] : []), ...scene.notes].map((n) => h('span', {}, n)));
    if (!performance.getEntriesByName(MARK_PLOTTED).length) performance.mark(MARK_PLOTTED);
  };

  const redraw = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(draw);
  };

  /** Keep the window inside the log, and no narrower than a couple of entries or sectors. */
  const clamp = (w: Window): Window => {
    const e = extent();
    const fit = (a: number, b: number, lo: number, hi: number, min: number): [number, number] => {
      let span = Math.min(hi - lo, Math.max(min, b - a));
      let start = Math.max(lo, Math.min(a, hi - span));
      if (!Number.isFinite(start)) start = lo;
      if (!Number.isFinite(span)) span = hi - lo;
      return [start, start + span];
    };
    const [x0, x1] = fit(w.x0, w.x1, e.x0, e.x1, mode === 'entry' ? 2 : 2 * app.loaded!.index.sectorSize);
    const [y0, y1] = fit(w.y0, w.y1, e.y0, e.y1, 2);
    return { x0, x1, y0, y1 };
  };

  const setView = (w: Window) => {
    view = clamp(w);
    redraw();
  };

  const reset = () => {
    if (!app.loaded) return;
    setView(extent());
  };

  const setSelection = (range: [number, number] | undefined) => {
    selection = range && range[1] > range[0] ? range : undefined;
    zoomSel.disabled = !selection;
    if (selection && app.loaded) {
      const [lo, hi] = entriesIn(app.loaded.index, mode, selection[0], selection[1]);
      selectionLine.textContent =
        lo <= hi ? `selected ${selectionText(stepStats(app.loaded.index, lo, hi))}` : 'no entries selected';
    } else selectionLine.textContent = '';
    redraw();
  };

  /** Pointer position in the plot area's device pixels, and the x and sector under it. */
  const local = (ev: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    const s = dpr();
    const plot = scene?.plot ?? { left: 0, top: 0, width: r.width * s, height: r.height * s };
    const px = (ev.clientX - r.left) * s - plot.left;
    const py = (ev.clientY - r.top) * s - plot.top;
    return {
      px,
      py,
      plot,
      x: view.x0 + (px / plot.width) * (view.x1 - view.x0),
      sector: view.y1 - (py / plot.height) * (view.y1 - view.y0),
      cssX: ev.clientX - r.left,
      cssY: ev.clientY - r.top,
      r,
    };
  };

  const showTip = (ev: MouseEvent) => {
    const loaded = app.loaded;
    if (!loaded || !scene) return -1;
    const p = local(ev);
    const i = pick(
      loaded.index,
      app.rows,
      scene.view,
      p.px,
      p.py,
      4 * dpr(),
      hidden,
      undefined,
      byClass && classColouring(byClass),
    );
    if (i < 0) {
      tip.hidden = true;
      return -1;
    }
    const { index } = loaded;
    const len = index.nrSectors[i]!;
    const mark = index.flags[i]! & Flag.MARK ? index.marks.find((m) => m.index === i)?.text : undefined;
    const past = i >= index.nrEntries ? ' · past nr_entries' : '';
    const cls = byClass && STRUCTURE_CLASSES[byClass.classes[i]!];
    tip.textContent = `#${int(i)} ${entryFlagNames(index, i)}${len ? ` · sector ${int(index.sector[i]!)}+${int(len)}` : ''}${cls ? ` · ${cls}` : ''}${mark !== undefined ? ` · '${mark}'` : ''}${past}`;
    tip.hidden = false;
    tip.style.left = `${Math.max(4, Math.min(p.cssX + 12, p.r.width - tip.offsetWidth - 4))}px`;
    tip.style.top = `${p.cssY + 14 > p.r.height - 30 ? p.cssY - 30 : p.cssY + 14}px`;
    return i;
  };

  let drag: { x: number; y: number; at: number; view: Window; moved: boolean; selecting: boolean } | undefined;
  canvas.addEventListener('pointerdown', (ev) => {
    if (!app.loaded) return;
    canvas.setPointerCapture(ev.pointerId);
    drag = { x: ev.clientX, y: ev.clientY, at: local(ev).x, view, moved: false, selecting: ev.shiftKey };
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!drag) {
      showTip(ev);
      return;
    }
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (!drag.moved) return;
    tip.hidden = true;
    const p = local(ev);
    if (drag.selecting) {
      setSelection([Math.min(drag.at, p.x), Math.max(drag.at, p.x)]);
      return;
    }
    box.classList.add('dragging');
    const s = dpr();
    const ux = (drag.view.x1 - drag.view.x0) / (p.plot.width / s);
    const uy = (drag.view.y1 - drag.view.y0) / (p.plot.height / s);
    setView({
      x0: drag.view.x0 - dx * ux,
      x1: drag.view.x1 - dx * ux,
      y0: drag.view.y0 + dy * uy,
      y1: drag.view.y1 + dy * uy,
    });
  });
  canvas.addEventListener('pointerup', (ev) => {
    const wasClick = drag && !drag.moved;
    drag = undefined;
    box.classList.remove('dragging');
    if (wasClick) {
      const i = showTip(ev);
      if (i >= 0) app.select(i);
    }
  });
  canvas.addEventListener('pointerleave', () => (tip.hidden = true));

  /** Zoom by `factor` (< 1 in) around x `at` (or sector `at` when `sectors`). */
  const zoom = (factor: number, at?: number, sectors = false) => {
    if (sectors) {
      const c = at ?? (view.y0 + view.y1) / 2;
      setView({ ...view, y0: c - (c - view.y0) * factor, y1: c + (view.y1 - c) * factor });
    } else {
      const c = at ?? (view.x0 + view.x1) / 2;
      setView({ ...view, x0: c - (c - view.x0) * factor, x1: c + (view.x1 - c) * factor });
    }
  };
  const pan = (fx: number, fy: number) => {
    const dx = (view.x1 - view.x0) * fx;
    const dy = (view.y1 - view.y0) * fy;
    setView({ x0: view.x0 + dx, x1: view.x1 + dx, y0: view.y0 + dy, y1: view.y1 + dy });
  };
  const zoomToSelection = () => {
    if (!selection) return;
    setView({ ...view, x0: selection[0], x1: selection[1] });
  };

  canvas.addEventListener(
    'wheel',
    (ev) => {
      if (!app.loaded) return;
      ev.preventDefault();
      const p = local(ev);
      const factor = Math.exp((ev.deltaY || ev.deltaX) * 0.0015);
      zoom(factor, ev.shiftKey ? p.sector : p.x, ev.shiftKey);
    },
    { passive: false },
  );
  canvas.addEventListener('keydown', (ev) => {
    if (!app.loaded) return;
    const keys: Record<string, () => void> = {
      ArrowLeft: () => pan(-0.2, 0),
      ArrowRight: () => pan(0.2, 0),
      ArrowUp: () => (ev.shiftKey ? zoom(1 / 1.5, undefined, true) : pan(0, 0.2)),
      ArrowDown: () => (ev.shiftKey ? zoom(1.5, undefined, true) : pan(0, -0.2)),
      '+': () => zoom(1 / 1.5),
      '=': () => zoom(1 / 1.5),
      '-': () => zoom(1.5),
      '0': reset,
      Home: reset,
      z: zoomToSelection,
      Escape: () => setSelection(undefined),
    };
    const act = keys[ev.key];
    if (!act) return;
    ev.preventDefault();
    act();
  });
  canvas.addEventListener('dblclick', reset);
  byId('plot-reset').addEventListener('click', reset);
  zoomSel.addEventListener('click', zoomToSelection);
  byId('plot-clear-selection').addEventListener('click', () => setSelection(undefined));
  modeSelect.addEventListener('change', () => {
    mode = modeSelect.value as XMode;
    setSelection(undefined);
    reset();
  });
  new ResizeObserver(redraw).observe(canvas);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    colours = palette();
    redraw();
  });

  app.on('loaded', () => {
    void setColour();
    setSelection(undefined);
    reset();
  });
  app.on('rows', redraw);
  app.on('select', ({ entry, reveal }) => {
    const x = xOf(app.loaded!.index, entry, mode);
    if (reveal && (x < view.x0 || x > view.x1)) {
      const half = (view.x1 - view.x0) / 2;
      view = clamp({ ...view, x0: x - half, x1: x + half });
    }
    redraw();
  });
}
