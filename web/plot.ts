// The Timeline panel: entries drawn into a pixel buffer by the raster data path, with marks,
// the selection and axis labels on top; wheel to zoom, drag to pan, hover to identify.

import { Flag } from '../src/format.ts';
import { entryFlagNames, type LogIndex } from '../src/log-index.ts';
import { pick, rasterize, xExtent, xOf, type Palette, type PlotView, type XMode } from '../src/browser/raster.ts';
import type { App } from './app.ts';
import { byId, h, int } from './dom.ts';

interface Window {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** `#rrggbb` to the u32 that ImageData holds on little-endian machines. */
function pixel(hexColour: string): number {
  const v = parseInt(hexColour.replace('#', ''), 16);
  return (0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
}

function palette(): Palette {
  return { write: pixel(css('--write')), fua: pixel(css('--fua')), discard: pixel(css('--discard')), metadata: pixel(css('--metadata')), flush: pixel(css('--flush')) };
}

export function mountPlot(app: App): void {
  const box = byId('plot');
  const canvas = byId<HTMLCanvasElement>('plot-canvas');
  const tip = byId('plot-tip');
  const modeSelect = byId<HTMLSelectElement>('plot-mode');
  const ctx = canvas.getContext('2d')!;
  let mode: XMode = 'entry';
  let view: Window = { x0: 0, x1: 1, y0: 0, y1: 1 };
  let colours = palette();
  let image: ImageData | undefined;
  let queued = false;

  byId('legend').append(
    ...(['write', 'fua', 'discard', 'metadata', 'flush', 'mark'] as const).map((k) =>
      h('span', {}, h('span', { class: 'chip', style: `background: var(--${k})` }), k === 'write' ? 'write' : k === 'mark' ? 'mark' : k.toUpperCase()),
    ),
  );

  const extent = (index: LogIndex): Window => {
    const [x0, x1] = xExtent(index, mode, app.loaded!.summary.bytesIndexed);
    return { x0, x1, y0: 0, y1: Math.max(1, app.loaded!.summary.deviceSectors) };
  };

  const plotView = (): PlotView => {
    const dpr = window.devicePixelRatio || 1;
    return { mode, ...view, width: Math.max(1, Math.round(canvas.clientWidth * dpr)), height: Math.max(1, Math.round(canvas.clientHeight * dpr)) };
  };

  const draw = () => {
    queued = false;
    const loaded = app.loaded;
    if (!loaded) return;
    const { index } = loaded;
    const v = plotView();
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== v.width || canvas.height !== v.height) {
      canvas.width = v.width;
      canvas.height = v.height;
    }
    if (!image || image.width !== v.width || image.height !== v.height) image = ctx.createImageData(v.width, v.height);
    rasterize(index, app.rows, v, colours, new Uint32Array(image.data.buffer));
    ctx.putImageData(image, 0, 0);
    const sx = v.width / (view.x1 - view.x0);
    const X = (i: number) => (xOf(index, i, mode) - view.x0) * sx;
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    // Marks: a rule each, and a label where it does not run into the previous one.
    ctx.strokeStyle = css('--mark');
    ctx.fillStyle = css('--mark');
    ctx.setLineDash([4 * dpr, 3 * dpr]);
    let free = -Infinity;
    for (const m of index.marks) {
      const x = Math.round(X(m.index)) + 0.5;
      if (x < 0 || x > v.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, v.height);
      ctx.stroke();
      const w = ctx.measureText(m.text).width;
      if (x + 3 * dpr > free && x + w < v.width) {
        ctx.fillText(m.text, x + 3 * dpr, 3 * dpr);
        free = x + w + 10 * dpr;
      }
    }
    ctx.setLineDash([]);
    if (app.selected >= 0) {
      const x = Math.round(X(app.selected)) + 0.5;
      ctx.strokeStyle = css('--ink');
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, v.height);
      ctx.stroke();
    }
    // Axis extents: x along the bottom, y on the left under the mark labels.
    const unit = mode === 'entry' ? 'entry' : 'byte';
    const label = (text: string, x: number, y: number, align: 'left' | 'right') => {
      const w = ctx.measureText(text).width;
      const left = align === 'left' ? x : x - w;
      ctx.fillStyle = css('--plot-bg');
      ctx.globalAlpha = 0.85;
      ctx.fillRect(left - 3 * dpr, y - 1 * dpr, w + 6 * dpr, 14 * dpr);
      ctx.globalAlpha = 1;
      ctx.fillStyle = css('--muted');
      ctx.fillText(text, left, y);
    };
    const bottom = v.height - 15 * dpr;
    label(`${unit} ${int(Math.round(view.x0))}`, 4 * dpr, bottom, 'left');
    label(`${unit} ${int(Math.round(view.x1))}`, v.width - 4 * dpr, bottom, 'right');
    label(`sector ${int(Math.round(view.y1))}`, 4 * dpr, 18 * dpr, 'left');
    label(`sector ${int(Math.round(view.y0))}`, 4 * dpr, bottom - 15 * dpr, 'left');
  };

  const redraw = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(draw);
  };

  /** Keep the window inside the log, and no narrower than a couple of entries or sectors. */
  const clamp = (w: Window): Window => {
    const e = extent(app.loaded!.index);
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

  const reset = () => {
    if (!app.loaded) return;
    view = extent(app.loaded.index);
    redraw();
  };

  const local = (ev: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top, w: r.width, h: r.height };
  };

  const showTip = (ev: MouseEvent) => {
    const loaded = app.loaded;
    if (!loaded) return -1;
    const p = local(ev);
    const dpr = window.devicePixelRatio || 1;
    const i = pick(loaded.index, app.rows, plotView(), p.x * dpr, p.y * dpr, 4 * dpr);
    if (i < 0) {
      tip.hidden = true;
      return -1;
    }
    const { index } = loaded;
    const len = index.nrSectors[i]!;
    const mark = index.flags[i]! & Flag.MARK ? index.marks.find((m) => m.index === i)?.text : undefined;
    tip.textContent = `#${int(i)} ${entryFlagNames(index, i)}${len ? ` · sector ${int(index.sector[i]!)}+${int(len)}` : ''}${mark !== undefined ? ` · '${mark}'` : ''}`;
    tip.hidden = false;
    tip.style.left = `${Math.min(p.x + 12, p.w - tip.offsetWidth - 4)}px`;
    tip.style.top = `${p.y + 14 > p.h - 30 ? p.y - 30 : p.y + 14}px`;
    return i;
  };

  let drag: { x: number; y: number; view: Window; moved: boolean } | undefined;
  canvas.addEventListener('pointerdown', (ev) => {
    if (!app.loaded) return;
    canvas.setPointerCapture(ev.pointerId);
    drag = { x: ev.clientX, y: ev.clientY, view, moved: false };
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
    box.classList.add('dragging');
    tip.hidden = true;
    const size = local(ev);
    const ux = (drag.view.x1 - drag.view.x0) / size.w;
    const uy = (drag.view.y1 - drag.view.y0) / size.h;
    view = clamp({ x0: drag.view.x0 - dx * ux, x1: drag.view.x1 - dx * ux, y0: drag.view.y0 + dy * uy, y1: drag.view.y1 + dy * uy });
    redraw();
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
  canvas.addEventListener(
    'wheel',
    (ev) => {
      if (!app.loaded) return;
      ev.preventDefault();
      const p = local(ev);
      const factor = Math.exp((ev.deltaY || ev.deltaX) * 0.0015);
      if (ev.shiftKey) {
        const at = view.y1 - (p.y / p.h) * (view.y1 - view.y0);
        view = clamp({ ...view, y0: at - (at - view.y0) * factor, y1: at + (view.y1 - at) * factor });
      } else {
        const at = view.x0 + (p.x / p.w) * (view.x1 - view.x0);
        view = clamp({ ...view, x0: at - (at - view.x0) * factor, x1: at + (view.x1 - at) * factor });
      }
      redraw();
    },
    { passive: false },
  );
  canvas.addEventListener('dblclick', reset);
  byId('plot-reset').addEventListener('click', reset);
  modeSelect.addEventListener('change', () => {
    mode = modeSelect.value as XMode;
    reset();
  });
  new ResizeObserver(redraw).observe(canvas);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    colours = palette();
    redraw();
  });

  app.on('loaded', reset);
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
