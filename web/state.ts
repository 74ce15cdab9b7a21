// The State panel: replay into memory up to a point, download that image, diff two points.

import { MAX_IMAGE_BYTES, type Diff, type Point } from '../src/browser/device-state.ts';
import { parseEntryBound } from '../src/browser/rows.ts';
import type { Call } from '../src/browser/client.ts';
import type { CallName, DiffFs, Result } from '../src/browser/protocol.ts';
import type { App } from './app.ts';
import { byId, bytes, h, int, parseSize } from './dom.ts';

const SHOWN_RUNS = 500;

export function mountState(app: App): void {
  const form = byId<HTMLFormElement>('state-form');
  const out = byId('state');
  const download = byId<HTMLButtonElement>('download');
  const cancel = byId<HTMLButtonElement>('state-cancel');
  const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  let running: number | undefined;

  const deviceBytes = () => {
    const n = parseSize(field('size').value);
    if (!(n > 0)) throw new Error(`device size: '${field('size').value}' is not a size like 67108864 or 64M`);
    if (n > MAX_IMAGE_BYTES) throw new Error(`a ${bytes(n)} device is too large to replay in page memory (the limit is 1 GiB); use logwrites replay instead`);
    if (n % app.loaded!.summary.sectorSize) throw new Error(`device size ${int(n)} is not a whole number of ${app.loaded!.summary.sectorSize}-byte sectors`);
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

  const pointLine = (label: string, p: Point) =>
    h('p', {}, `${label} entry ${int(p.at)}: fingerprint `, h('code', { class: 'fingerprint', 'data-at': p.at }, p.fingerprint));

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
        return diffView(d, app.loaded!.summary.sectorSize);
      },
    );
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
      h('p', { class: 'muted' }, `Replays counted entries into memory (devices up to 1 GiB). The device size defaults to the highest sector written; give the real size to download a full image.`),
    );
  });
}

function diffView(d: Diff & { readonly fs: DiffFs }, S: number): Node[] {
  const sectors = d.runs.reduce((n, [, c]) => n + c, 0);
  return [
    h('p', {}, `A = entry ${int(d.a.at)}: fingerprint `, h('code', {}, d.a.fingerprint)),
    h('p', {}, `B = entry ${int(d.b.at)}: fingerprint `, h('code', {}, d.b.fingerprint)),
    h('p', { id: 'diff-total' }, `${int(d.runs.length)} changed range${d.runs.length === 1 ? '' : 's'}, ${int(sectors)} sectors (${bytes(sectors * S)})`),
    h('p', { id: 'diff-fs' }, d.fs.fs ? `${d.fs.fs} at B: ${d.fs.text || 'nothing it names'}` : 'no file system recognised at B'),
    h(
      'ul',
      { class: 'runs' },
      ...d.runs.slice(0, SHOWN_RUNS).map(([s, n]) => h('li', {}, `sectors ${int(s)}–${int(s + n - 1)} (${int(n)})`)),
      d.runs.length > SHOWN_RUNS ? h('li', { class: 'muted' }, `… and ${int(d.runs.length - SHOWN_RUNS)} more`) : null,
    ),
  ];
}
