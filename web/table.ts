// The Entries panel: filters and a virtualized table. Only the rows in sight exist in the DOM
// (a fixed pool reused on scroll); past a few million pixels the scrollbar maps onto rows
// proportionally, since browsers cap how tall an element may be.

import { Flag, type FlagName } from '../src/format.ts';
import { entryFlagNames, payloadLength } from '../src/entry-index/log-index.ts';
import { entryAt, filterRows, parseEntryBound, rowCount, rowOf, type RowFilter } from '../src/browser/rows.ts';
import type { App } from './app.ts';
import { byId, h, int } from './dom.ts';

const ROW = 24;
const MAX_SCROLL_PX = 8_000_000;

/** The flag a row is coloured by, strongest first (as the plot does). */
function rowClass(flags: number): string {
  for (const f of ['DISCARD', 'FUA', 'METADATA', 'MARK', 'FLUSH'] as const) if (flags & Flag[f]) return `f-${f}`;
  return '';
}

export function mountTable(app: App): void {
  const viewport = byId('viewport');
  const spacer = byId('spacer');
  const rowsEl = byId('rows');
  const count = byId('row-count');
  const pool: HTMLElement[] = [];
  let n = 0;

  const geometry = () => {
    const contentH = n * ROW;
    const virtH = Math.min(contentH, MAX_SCROLL_PX);
    const viewH = viewport.clientHeight;
    return { contentH, virtH, viewH, scale: virtH > viewH ? (contentH - viewH) / (virtH - viewH) : 1 };
  };

  const render = () => {
    const { viewH, scale } = geometry();
    const want = Math.ceil(viewH / ROW) + 2;
    while (pool.length < want) {
      const r = h(
        'div',
        { class: 'row', role: 'row' },
        ...Array.from({ length: 7 }, () => h('span', { role: 'gridcell' })),
      );
      r.addEventListener('click', () => app.select(Number(r.dataset.entry), false));
      pool.push(r);
      rowsEl.append(r);
    }
    const top = viewport.scrollTop * scale;
    const first = Math.floor(top / ROW);
    rowsEl.style.transform = `translateY(${viewport.scrollTop + first * ROW - top}px)`;
    const loaded = app.loaded;
    pool.forEach((el, k) => {
      const r = first + k;
      if (!loaded || r >= n) {
        el.hidden = true;
        return;
      }
      el.hidden = false;
      const i = entryAt(app.rows, r);
      fillRow(el, i);
      el.classList.toggle('selected', i === app.selected);
    });
  };

  const fillRow = (el: HTMLElement, i: number) => {
    const { index } = app.loaded!;
    const cells = el.children as HTMLCollectionOf<HTMLElement>;
    const len = index.nrSectors[i]!;
    const past = i >= index.nrEntries;
    el.dataset.entry = String(i);
    el.classList.toggle('past-end', past);
    el.title = past ? `entry ${i} is past nr_entries (${index.nrEntries}): a replay stops before it` : '';
    cells[0]!.textContent = int(i);
    cells[1]!.textContent = int(index.offset[i]!);
    const names = entryFlagNames(index, i);
    cells[2]!.textContent = names;
    cells[2]!.title = names;
    cells[2]!.className = rowClass(index.flags[i]!);
    cells[3]!.textContent = len ? int(index.sector[i]!) : '';
    cells[4]!.textContent = len ? int(len) : '';
    cells[5]!.textContent = payloadLength(index, i) ? int(payloadLength(index, i)) : '';
    cells[6]!.textContent = index.flags[i]! & Flag.MARK ? markText(i) : '';
  };

  const markText = (i: number) => app.loaded!.index.marks.find((m) => m.index === i)?.text ?? '';

  const reset = () => {
    n = app.loaded ? rowCount(app.loaded.index, app.rows) : 0;
    spacer.style.height = `${geometry().virtH}px`;
    const past = app.loaded ? Math.max(0, app.loaded.index.count - app.loaded.index.nrEntries) : 0;
    count.textContent = app.loaded
      ? `${int(n)} of ${int(app.loaded.index.count)} entries${past ? ` (${int(past)} past nr_entries)` : ''}`
      : '';
    render();
  };

  /** New rows start at the top: an old scroll position would show an arbitrary place in them. */
  const rowsChanged = () => {
    viewport.scrollTop = 0;
    reset();
  };

  /** Scroll so that row `r` is in sight (keeping the scroll still when it already is). */
  const reveal = (r: number) => {
    const { viewH, scale } = geometry();
    const top = viewport.scrollTop * scale;
    const y = r * ROW;
    if (y < top) viewport.scrollTop = y / scale;
    else if (y + ROW > top + viewH) viewport.scrollTop = (y + ROW - viewH) / scale;
    render();
  };

  const moveBy = (delta: number) => {
    if (!app.loaded || n === 0) return;
    const current = app.selected < 0 ? -1 : rowOf(app.rows, app.selected);
    const r = Math.max(0, Math.min(n - 1, current + delta));
    app.select(entryAt(app.rows, r));
  };

  viewport.addEventListener('scroll', () => requestAnimationFrame(render), { passive: true });
  new ResizeObserver(() => reset()).observe(viewport);
  viewport.addEventListener('keydown', (ev) => {
    const page = Math.max(1, Math.floor(viewport.clientHeight / ROW) - 1);
    const moves: Record<string, number> = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: page,
      PageUp: -page,
      Home: -Infinity,
      End: Infinity,
      j: 1,
      k: -1,
    };
    const d = moves[ev.key];
    if (d === undefined) return;
    ev.preventDefault();
    moveBy(Math.max(-n, Math.min(n, d)));
  });

  app.on('rows', rowsChanged);
  app.on('select', ({ entry, reveal: bring }) => {
    if (bring) reveal(rowOf(app.rows, entry));
    else render();
  });
  mountFilters(app);
}

const FILTER_FLAGS: (FlagName | 'plain')[] = ['FLUSH', 'FUA', 'DISCARD', 'MARK', 'METADATA', 'plain'];

function mountFilters(app: App): void {
  const form = byId<HTMLFormElement>('filters');
  const error = byId('filter-error');
  byId('flag-filter').append(
    ...FILTER_FLAGS.map((f) =>
      h(
        'label',
        { class: 'flag', title: f === 'plain' ? 'plain writes: flags NONE' : `entries with ${f}` },
        h('input', { type: 'checkbox', name: 'flag', value: f }),
        f === 'plain' ? 'NONE' : f,
      ),
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const apply = () => {
    if (!app.loaded) return;
    const { index } = app.loaded;
    const data = new FormData(form);
    try {
      const flags = data.getAll('flag') as string[];
      const text = (k: string) => String(data.get(k) ?? '').trim();
      const sectors = /^(\d+)\s*(?:-\s*(\d+))?$/.exec(text('sectors'));
      if (text('sectors') && !sectors) throw new Error(`sectors: '${text('sectors')}' is not A-B`);
      const f: RowFilter = {
        flags: flags.reduce((m, name) => m | (name === 'plain' ? 0 : Flag[name as FlagName]), 0),
        plain: flags.includes('plain'),
        from: parseEntryBound(index, text('from')),
        to: parseEntryBound(index, text('to')),
        ...(sectors ? { sectors: { start: Number(sectors[1]), end: Number(sectors[2] ?? sectors[1]) } } : {}),
        markText: text('mark'),
      };
      error.textContent = '';
      app.setRows(filterRows(index, f));
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  };
  form.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 120);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    apply();
  });
  app.on('loaded', () => form.reset());
}
