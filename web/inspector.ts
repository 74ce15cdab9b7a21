// The Entry panel: header fields, checksums of the payload, and a paged hex dump.

import { flagsHex } from '../src/format.ts';
import { PAGE_BYTES, type EntryDetail, type EntryFs } from '../src/browser/protocol.ts';
import type { App } from './app.ts';
import { byId, h, hex, int } from './dom.ts';

/** One hex-dump page: payload offset, `perLine` bytes (8 or 16) in groups of eight, their printable characters. */
export function hexDump(bytes: Uint8Array, base: number, perLine: 8 | 16): string {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += perLine) {
    const row = bytes.subarray(at, at + perLine);
    const hexes = Array.from(row, (b) => b.toString(16).padStart(2, '0'));
    const groups = (perLine === 16 ? [hexes.slice(0, 8), hexes.slice(8)] : [hexes]).map((g) => g.join(' ').padEnd(23));
    const text = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(base + at).toString(16).padStart(8, '0')}  ${groups.join('  ')}  ${text}`);
  }
  return lines.join('\n');
}

/** A structure's decoded header fields, e.g. ` (seq 17, journalBlock 3)`. */
const fieldsText = (f: Readonly<Record<string, number | string>> | undefined) =>
  f && Object.keys(f).length
    ? ` (${Object.entries(f)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`
    : '';

/** Sixteen bytes a line where the panel is wide enough (a narrow window), else eight. */
const perLineFor = (width: number): 8 | 16 => (width >= 560 ? 16 : 8);

export function mountInspector(app: App): void {
  const root = byId('inspector');
  let token = 0;
  let known: { entry: number; w: EntryFs } | undefined;

  const show = async (entry: number, page: number) => {
    const mine = ++token;
    try {
      const d = await app.worker.call('entry', { index: entry, page }).done;
      if (mine === token) render(d);
    } catch (e) {
      if (mine === token) root.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
    }
  };

  const render = (d: EntryDetail) => {
    const S = app.loaded!.summary.sectorSize;
    const row = (k: string, v: string, id?: string) => [h('dt', {}, k), h('dd', { id }, v)];
    const fields = h(
      'dl',
      { class: 'kv' },
      ...row('entry', int(d.index), 'insp-index'),
      ...row('header at', `byte ${int(d.offset)} · sector ${int(d.offset / S)}`),
      ...row('flags', `${d.flagNames} (0x${flagsHex(d.flags, d.flagsHigh)})`, 'insp-flags'),
      ...row('sector', int(d.sector)),
      ...row('nr_sectors', int(d.nrSectors)),
      ...row('device bytes', d.nrSectors ? `${int(d.sector * S)} … ${int((d.sector + d.nrSectors) * S - 1)}` : '—'),
      ...row('data_len', int(d.dataLen)),
      ...(d.mark !== undefined ? row('mark', d.mark, 'insp-mark') : []),
      ...row('payload', d.payloadLength ? `${int(d.payloadLength)} bytes at ${int(d.payloadOffset)}` : 'none'),
      ...(d.crc32c ? row('crc32c', d.crc32c, 'insp-crc32c') : []),
      ...(d.xxh64 ? row('xxh64', d.xxh64, 'insp-xxh64') : []),
    );
    const parts: Node[] = [fields];
    if (d.payloadLength) {
      const go = (p: number) => () => void show(d.index, p);
      parts.push(
        h(
          'div',
          { class: 'hexnav' },
          h(
            'span',
            {},
            `page ${d.page + 1} of ${d.pages} · payload bytes ${hex(d.page * PAGE_BYTES)}–${hex(d.page * PAGE_BYTES + d.bytes.length - 1)}`,
          ),
          h('button', { type: 'button', disabled: d.page === 0, onclick: go(0), title: 'first page' }, '«'),
          h('button', { type: 'button', disabled: d.page === 0, onclick: go(d.page - 1), title: 'previous page' }, '‹'),
          h(
            'button',
            { type: 'button', disabled: d.page + 1 >= d.pages, onclick: go(d.page + 1), title: 'next page' },
            '›',
          ),
          h(
            'button',
            { type: 'button', disabled: d.page + 1 >= d.pages, onclick: go(d.pages - 1), title: 'last page' },
            '»',
          ),
        ),
        h('pre', { class: 'hex', id: 'hex' }, hexDump(d.bytes, d.page * PAGE_BYTES, perLineFor(root.clientWidth))),
      );
    }
    root.replaceChildren(...parts);
    if (d.nrSectors) void showFs(d.index, fields);
  };

  /** What the entry wrote, to the file system (structure names and their main fields). */
  const showFs = async (entry: number, fields: HTMLElement) => {
    const mine = token;
    const dd = h('dd', { id: 'insp-fs' }, 'reading the file system…');
    fields.append(h('dt', {}, 'file system'), dd);
    try {
      // Paging through the hex dump keeps the answer: the entry did not change.
      const w = known?.entry === entry ? known.w : await app.worker.call('what', { index: entry }).done;
      known = { entry, w };
      if (mine !== token) return;
      if (!w.fs) return dd.replaceChildren('no file system recognised');
      const S = app.loaded!.summary.sectorSize;
      const items = w.pieces.map((p) =>
        h('li', {}, `sectors ${int(p.offset / S)}+${int(p.length / S)}: ${p.text}${fieldsText(p.fields)}`),
      );
      dd.replaceChildren(
        h('span', { class: 'muted' }, `${w.fs}, as of entry ${int(w.state)}`),
        h('ul', { class: 'fs-what' }, ...items),
      );
    } catch (e) {
      if (mine === token) dd.replaceChildren((e as Error).message);
    }
  };

  byId('prev-entry').addEventListener('click', () => app.select(app.selected - 1));
  byId('next-entry').addEventListener('click', () => app.select(app.selected + 1));
  app.on('select', ({ entry }) => void show(entry, 0));
  app.on('loaded', () =>
    root.replaceChildren(h('p', { class: 'muted' }, 'Select an entry in the table, the plot or the marks.')),
  );
}
