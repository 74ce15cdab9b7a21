// The Summary and Marks panels.

import { Flag, type FlagName } from '../src/format.ts';
import type { Summary } from '../src/log-index.ts';
import type { App } from './app.ts';
import { byId, bytes, h, int } from './dom.ts';

const FLAG_CLASS: Partial<Record<FlagName, string>> = { FUA: 'fua', DISCARD: 'discard', METADATA: 'metadata', MARK: 'mark', FLUSH: 'flush' };

/** Extra facts the page knows (how long indexing took, which kernels run). */
export interface SummaryNotes {
  readonly kernels?: string;
  readonly seconds?: number;
}

export function renderSummary(app: App, s: Summary, notes: SummaryNotes = {}): void {
  const S = s.sectorSize;
  const row = (k: string, v: Node | string, title?: string) => [h('dt', { title }, k), h('dd', {}, v)];
  const counted = Math.min(s.entries, s.nrEntries);
  const list = h(
    'dl',
    { class: 'kv', id: 'summary-fields' },
    ...row('log', `${s.name}`),
    ...row('log size', bytes(s.logBytes)),
    ...row('version', String(s.version)),
    ...row('sectorsize', `${int(S)} bytes`),
    ...row('nr_entries', int(s.nrEntries), 'what the super counts'),
    ...row('entries', h('span', { 'data-k': 'entries' }, int(counted)), 'entries read within nr_entries'),
    ...row('trailing', h('span', { 'data-k': 'trailing', class: s.trailing ? 'f-FUA' : '' }, int(s.trailing)), 'valid entries past nr_entries'),
    ...(Object.keys(Flag) as FlagName[]).flatMap((f) =>
      row(f, h('span', { 'data-k': f }, h('span', { class: 'chip', style: `background: var(--${FLAG_CLASS[f]})` }), int(s.flagCounts[f]))),
    ),
    ...row('payload', bytes(s.payloadBytes)),
    ...row('device extent', s.deviceSectors ? `${int(s.deviceSectors)} sectors · ${bytes(s.deviceSectors * S)}` : 'nothing written'),
    ...row('marks', h('span', { 'data-k': 'marks' }, int(s.marks))),
    ...(notes.kernels ? row('kernels', notes.kernels) : []),
    ...(notes.seconds !== undefined ? row('indexed in', `${notes.seconds.toFixed(2)} s`) : []),
  );
  const warnings = s.warnings.length
    ? h(
        'ul',
        { class: 'warnings', id: 'warnings' },
        ...s.warnings.map((w) =>
          h('li', { title: 'select this entry', onclick: () => w.entry !== undefined && app.select(w.entry) }, `${w.entry === undefined ? '' : `entry ${w.entry} `}at byte ${int(w.offset)}: ${w.message}`),
        ),
      )
    : null;
  byId('summary').replaceChildren(list, ...(warnings ? [warnings] : []), s.complete ? '' : h('p', { class: 'muted' }, `indexing… ${int(s.entries)} entries so far`));
}

export function mountMarks(app: App): void {
  const list = byId<HTMLOListElement>('marks');
  app.on('loaded', ({ index }) => {
    list.replaceChildren(
      ...(index.marks.length
        ? index.marks.map((m) => h('li', { 'data-entry': m.index, title: `entry ${m.index}`, onclick: () => app.select(m.index) }, h('span', { class: 'n' }, m.index), h('span', { class: 't' }, m.text)))
        : [h('li', { class: 'muted' }, 'no marks in this log')]),
    );
  });
  app.on('select', ({ entry }) => {
    for (const li of list.children) li.classList.toggle('selected', Number((li as HTMLElement).dataset.entry) === entry);
  });
}
