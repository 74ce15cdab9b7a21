// The State panel: replay into memory up to a point, download that image, diff two points.

import { MAX_IMAGE_BYTES, type Diff, type StatePoint, type SectorPair } from '../src/browser/device-state.ts';
import { attribute, type Touch } from '../src/diff.ts';
import type { LogIndex } from '../src/entry-index/log-index.ts';
import { parseEntryBound } from '../src/browser/rows.ts';
import type { Call } from '../src/browser/client.ts';
import type { CallName, DiffFs, Result } from '../src/browser/protocol.ts';
import type { App } from './app.ts';
import { byId, bytes, h, hex, int } from './dom.ts';
import { parseSize } from '../src/units.ts';

const SHOWN_RUNS = 500;
/** Entries listed per changed range before "and N more". */
const SHOWN_ENTRIES = 12;
/** Bytes per line of a sector comparison, and lines shown. */
const COMPARE_LINE = 8;
const COMPARE_LINES = 64;

export function mountState(app: App): void {
  const form = byId<HTMLFormElement>('state-form');
  const out = byId('state');
  const download = byId<HTMLButtonElement>('download');
  const cancel = byId<HTMLButtonElement>('state-cancel');
  const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  let running: number | undefined;

  const deviceBytes = () => {
    const n = parseSize(field('size').value) ?? NaN;
    if (!(n > 0)) throw new Error(`device size: '${field('size').value}' is not a size like 67108864 or 64M`);
    if (n > MAX_IMAGE_BYTES)
      throw new Error(
        `a ${bytes(n)} device is too large to replay in page memory (the limit is 1 GiB); use logwrites replay instead`,
      );
    if (n % app.loaded!.summary.sectorSize)
      throw new Error(`device size ${int(n)} is not a whole number of ${app.loaded!.summary.sectorSize}-byte sectors`);
    return n;
  };
  const point = (name: 'a' | 'b') => {
    const at = parseEntryBound(app.loaded!.index, field(name).value);
    if (at === undefined) throw new Error(`point ${name.toUpperCase()}: give an entry number or a mark name`);
    return at;
  };

  /** Run one worker call with the panel showing it is busy and offering to cancel. */
  const run = async <K extends CallName>(start: () => Call<K>, done: (r: Result<K>) => Node[]) => {
    if (!app.loaded || running !== undefined) return;
    let call: Call<K>;
    try {
      call = start();
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
      return;
    }
    running = call.id;
    cancel.hidden = false;
    out.replaceChildren(h('p', { class: 'muted', id: 'state-busy' }, 'replaying…'));
    try {
      out.replaceChildren(...done(await call.done));
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
    } finally {
      running = undefined;
      cancel.hidden = true;
    }
  };

  const pointLine = (label: string, p: StatePoint) =>
    h(
      'p',
      {},
      `${label} entry ${int(p.at)}: fingerprint `,
      h('code', { class: 'fingerprint', 'data-at': p.at }, p.fingerprint),
    );

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(
      () => app.worker.call('state', { at: point('a'), deviceBytes: deviceBytes() }),
      (p) => {
        download.disabled = false;
        return [pointLine('After', p)];
      },
    );
  });
  byId('diff').addEventListener('click', () => {
    void run(
      () => app.worker.call('diff', { a: point('a'), b: point('b'), deviceBytes: deviceBytes() }),
      (d) => {
        download.disabled = false;
        lastDiff = d;
        return diffView(app, d, { compare: (sector) => void compare(d, sector) });
      },
    );
  });

  let lastDiff: Diff | undefined;
  /** Show one sector at both points of the diff, under its ranges. */
  const compare = async (d: Diff, sector: number) => {
    const box = byId('sector-compare');
    box.replaceChildren(h('p', { class: 'muted' }, `reading sector ${int(sector)}…`));
    try {
      const pair = await app.worker.call('sector', { a: d.a.at, b: d.b.at, sector, deviceBytes: deviceBytes() }).done;
      box.replaceChildren(...compareView(pair, d.swapped));
    } catch (e) {
      box.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
    }
  };
  out.addEventListener('submit', (ev) => {
    const f = ev.target as HTMLFormElement;
    if (f.id !== 'compare-form' || !lastDiff) return;
    ev.preventDefault();
    const n = Number((f.elements.namedItem('sector') as HTMLInputElement).value.replace(/[,_\s]/g, ''));
    if (Number.isInteger(n) && n >= 0) void compare(lastDiff, n);
    else byId('sector-compare').replaceChildren(h('p', { class: 'error' }, 'sector: give a sector number'));
  });
  download.addEventListener('click', async () => {
    const { blob, point: p } = await app.worker.call('image', {}).done;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${app.loaded!.summary.name.replace(/\.[^.]*$/, '')}-entry-${p.at}.img` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  });
  cancel.addEventListener('click', () => running !== undefined && app.worker.cancel(running));
  form.addEventListener('click', (ev) => {
    const use = (ev.target as HTMLElement).dataset.use;
    if (use && app.selected >= 0) field(use).value = String(app.selected);
  });
  app.on('loaded', ({ summary }) => {
    form.reset();
    field('size').value = String(summary.deviceSectors * summary.sectorSize);
    download.disabled = true;
    out.replaceChildren(
      h(
        'p',
        { class: 'muted' },
        `Replays counted entries into memory (devices up to 1 GiB). The device size defaults to the highest sector written; give the real size to download a full image.`,
      ),
    );
  });
}

/** Entries after `lo` up to `hi` that wrote or discarded sectors, in log order. */
function* touches(index: LogIndex, lo: number, hi: number): Generator<Touch> {
  for (let i = lo + 1; i <= hi; i++)
    if (index.nrSectors[i]! > 0) yield { index: i, sector: index.sector[i]!, nrSectors: index.nrSectors[i]! };
}

function diffView(app: App, d: Diff & { readonly fs: DiffFs }, on: { compare: (sector: number) => void }): Node[] {
  const S = app.loaded!.summary.sectorSize;
  const sectors = d.runs.reduce((n, [, c]) => n + c, 0);
  const [first, second] = d.swapped ? ['B', 'A'] : ['A', 'B'];
  const shown = attribute(
    d.runs.slice(0, SHOWN_RUNS).map(([sector, nrSectors]) => ({ sector, nrSectors })),
    touches(app.loaded!.index, d.a.at, d.b.at),
  );
  const entryButton = (i: number) =>
    h(
      'button',
      {
        type: 'button',
        class: 'entry-link',
        'data-entry': i,
        title: `select entry ${i}`,
        onclick: () => app.select(i),
      },
      int(i),
    );
  return [
    h('p', {}, `${first} = entry ${int(d.a.at)}: fingerprint `, h('code', {}, d.a.fingerprint)),
    h('p', {}, `${second} = entry ${int(d.b.at)}: fingerprint `, h('code', {}, d.b.fingerprint)),
    ...(d.swapped
      ? [
          h(
            'p',
            { class: 'warn', id: 'diff-swapped' },
            `A is after B in the log, so this is what changed from B (entry ${int(d.a.at)}) to A (entry ${int(d.b.at)}).`,
          ),
        ]
      : []),
    h(
      'p',
      { id: 'diff-total' },
      `${int(d.runs.length)} changed range${d.runs.length === 1 ? '' : 's'}, ${int(sectors)} sectors (${bytes(sectors * S)})`,
    ),
    h(
      'p',
      { id: 'diff-fs' },
      d.fs.fs
        ? `${d.fs.fs} at entry ${int(d.b.at)}: ${d.fs.text || 'nothing it names'}`
        : `no file system recognised at entry ${int(d.b.at)}`,
    ),
    h(
      'ul',
      { class: 'runs', id: 'diff-runs' },
      ...shown.map((r) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'range-link',
              'data-sector': r.sector,
              title: `compare sector ${r.sector} at both points`,
              onclick: () => on.compare(r.sector),
            },
            `sectors ${int(r.sector)}–${int(r.sector + r.nrSectors - 1)} (${int(r.nrSectors)})`,
          ),
          h(
            'span',
            { class: 'by' },
            r.entries.length === 1 ? ' entry ' : ' entries ',
            ...r.entries.slice(0, SHOWN_ENTRIES).flatMap((i, k) => [k ? ' ' : '', entryButton(i)]),
          ),
          r.entries.length > SHOWN_ENTRIES
            ? h('span', { class: 'muted' }, ` and ${int(r.entries.length - SHOWN_ENTRIES)} more`)
            : null,
        ),
      ),
      d.runs.length > SHOWN_RUNS ? h('li', { class: 'muted' }, `… and ${int(d.runs.length - SHOWN_RUNS)} more`) : null,
    ),
    h(
      'form',
      { id: 'compare-form', class: 'compare-form' },
      h(
        'label',
        {},
        'compare sector ',
        h('input', { name: 'sector', size: 10, value: d.runs[0]?.[0] ?? 0, inputmode: 'numeric' }),
      ),
      h('button', { type: 'submit' }, 'Compare'),
    ),
    h('div', { id: 'sector-compare', class: 'sector-compare' }),
  ];
}

/** The lines of a sector where its bytes differ between the two points, each byte that changed marked. */
function compareView(p: SectorPair, swapped: boolean): Node[] {
  const [first, second] = swapped ? ['B', 'A'] : ['A', 'B'];
  const differ = p.before.reduce((n, b, k) => n + (b !== p.after[k] ? 1 : 0), 0);
  const lines: Node[] = [];
  const row = (label: string, bytes: Uint8Array, other: Uint8Array, at: number) =>
    h(
      'div',
      { class: 'cmp-line' },
      h('span', { class: 'o' }, label),
      ...Array.from(bytes.subarray(at, at + COMPARE_LINE), (b, k) =>
        h('span', { class: b === other[at + k] ? '' : 'diff' }, b.toString(16).padStart(2, '0')),
      ),
    );
  let shown = 0;
  for (let at = 0; at < p.before.length && shown < COMPARE_LINES; at += COMPARE_LINE) {
    if (p.before.subarray(at, at + COMPARE_LINE).every((b, k) => b === p.after[at + k])) continue;
    lines.push(
      row(`${at.toString(16).padStart(4, '0')} ${first}`, p.before, p.after, at),
      row(`     ${second}`, p.after, p.before, at),
    );
    shown++;
  }
  const more = Math.ceil(differ / COMPARE_LINE) > shown && shown === COMPARE_LINES;
  return [
    h(
      'p',
      { id: 'compare-total' },
      `sector ${int(p.sector)} (device byte ${hex(p.sector * p.before.length)}): ${int(differ)} of ${int(p.before.length)} bytes differ between ${first} (entry ${int(p.a.at)}) and ${second} (entry ${int(p.b.at)})`,
    ),
    h('div', { class: 'cmp' }, ...lines),
    ...(more ? [h('p', { class: 'muted' }, `only the first ${COMPARE_LINES} lines that differ are shown`)] : []),
  ];
}
