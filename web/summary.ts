// The Summary and Marks panels.

import { Flag, type FlagName } from '../src/format.ts';
import type { Summary } from '../src/entry-index/log-index.ts';
import { markSteps, type MarkStep } from '../src/entry-index/steps.ts';
import type { App } from './app.ts';
import { byId, bytes, h, int } from './dom.ts';

const FLAG_CLASS: Partial<Record<FlagName, string>> = {
  FUA: 'fua',
  DISCARD: 'discard',
  METADATA: 'metadata',
  MARK: 'mark',
  FLUSH: 'flush',
};

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
    ...row(
      'trailing',
      h('span', { 'data-k': 'trailing', class: s.trailing ? 'f-FUA' : '' }, int(s.trailing)),
      'valid entries past nr_entries',
    ),
    ...(Object.keys(Flag) as FlagName[]).flatMap((f) =>
      row(
        f,
        h(
          'span',
          { 'data-k': f },
          h('span', { class: 'chip', style: `background: var(--${FLAG_CLASS[f]})` }),
          int(s.flagCounts[f]),
        ),
      ),
    ),
    ...row('payload', bytes(s.payloadBytes)),
    ...row(
      'device extent',
      s.deviceSectors ? `${int(s.deviceSectors)} sectors · ${bytes(s.deviceSectors * S)}` : 'nothing written',
    ),
    ...row('marks', h('span', { 'data-k': 'marks' }, int(s.marks))),
    ...(notes.kernels ? row('kernels', notes.kernels) : []),
    ...(notes.seconds !== undefined ? row('indexed in', `${notes.seconds.toFixed(2)} s`) : []),
  );
  const warnings = s.warnings.length
    ? h(
        'ul',
        { class: 'warnings', id: 'warnings' },
        ...s.warnings.map((w) =>
          h(
            'li',
            { title: 'select this entry', onclick: () => w.entry !== undefined && app.select(w.entry) },
            `${w.entry === undefined ? '' : `entry ${w.entry} `}at byte ${int(w.offset)}: ${w.message}`,
          ),
        ),
      )
    : null;
  byId('summary').replaceChildren(
    list,
    ...(warnings ? [warnings] : []),
    s.complete ? '' : h('p', { class: 'muted' }, `indexing… ${int(s.entries)} entries so far`),
  );
}

/** One line for a step: what the entries since the previous mark did. */
function stepLine(st: MarkStep): string {
  const parts = [
    `${int(st.entries)} entr${st.entries === 1 ? 'y' : 'ies'}`,
    `${int(st.writes)} write${st.writes === 1 ? '' : 's'} ${bytes(st.bytes)}`,
    st.flushes ? `${int(st.flushes)} FLUSH` : '',
    st.fuas ? `${int(st.fuas)} FUA` : '',
    st.discards ? `${int(st.discards)} DISCARD` : '',
    `${int(st.sectorsTouched)} sectors`,
  ];
  return parts.filter(Boolean).join(' · ');
}

const STEP_COLUMNS = ['mark', 'entries', 'writes', 'bytes', 'FLUSH', 'FUA', 'DISCARD', 'sectors'] as const;

function stepsTable(app: App, steps: readonly MarkStep[]): HTMLTableElement {
  const cell = (v: string, title?: string) => h('td', { title }, v);
  return h(
    'table',
    { class: 'steps', id: 'steps-table' },
    h('thead', {}, h('tr', {}, ...STEP_COLUMNS.map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      ...steps.map((st) =>
        h(
          'tr',
          {
            'data-entry': st.to,
            class: st.pastEnd ? 'past-end' : '',
            tabindex: 0,
            onclick: () => app.select(st.to),
            onkeydown: activate(() => app.select(st.to)),
          },
          cell(st.mark ? st.mark.text : '(after the last mark)', `entries ${st.from}–${st.to}`),
          cell(`${int(st.from)}–${int(st.to)}`),
          cell(int(st.writes)),
          cell(bytes(st.bytes)),
          cell(int(st.flushes)),
          cell(int(st.fuas)),
          cell(int(st.discards)),
          cell(int(st.sectorsTouched)),
        ),
      ),
    ),
  );
}

/** Enter or Space on a focusable item does what a click does. */
function activate(fn: () => void): (ev: KeyboardEvent) => void {
  return (ev) => {
    if (ev.key !== 'Enter' && ev.key !== ' ') return;
    ev.preventDefault();
    fn();
  };
}

export function mountMarks(app: App): void {
  const list = byId<HTMLOListElement>('marks');
  const tableBox = byId('steps-box');
  const toggle = byId<HTMLButtonElement>('steps-toggle');
  const showTable = (on: boolean) => {
    toggle.setAttribute('aria-pressed', String(on));
    toggle.textContent = on ? 'List' : 'Table';
    list.hidden = on;
    tableBox.hidden = !on;
  };
  toggle.addEventListener('click', () => showTable(list.hidden === false));
  // Arrow keys move between mark items, as in a list box.
  list.addEventListener('keydown', (ev) => {
    const step = { ArrowDown: 1, ArrowUp: -1 }[ev.key];
    const li = (ev.target as HTMLElement).closest('li');
    if (!step || !li) return;
    ev.preventDefault();
    ((step > 0 ? li.nextElementSibling : li.previousElementSibling) as HTMLElement | null)?.focus();
  });
  app.on('loaded', ({ index }) => {
    const all = markSteps(index);
    const steps = all.filter((st) => st.mark);
    list.replaceChildren(
      ...(steps.length
        ? steps.map((st) => {
            const m = st.mark!;
            const past = m.index >= index.nrEntries;
            return h(
              'li',
              {
                'data-entry': m.index,
                tabindex: 0,
                role: 'button',
                class: past ? 'past-end' : '',
                title: `entry ${m.index}${past ? ': past nr_entries, a replay cannot reach it' : ''}; the step is entries ${st.from}–${st.to}`,
                onclick: () => app.select(m.index),
                onkeydown: activate(() => app.select(m.index)),
              },
              h('span', { class: 'n' }, int(m.index)),
              h(
                'span',
                { class: 'body' },
                h('span', { class: 't' }, m.text, past ? h('span', { class: 'badge' }, 'past nr_entries') : null),
                h('span', { class: 'step' }, stepLine(st)),
              ),
            );
          })
        : [h('li', { class: 'muted' }, 'no marks in this log')]),
    );
    tableBox.replaceChildren(
      ...(steps.length ? [stepsTable(app, all)] : [h('p', { class: 'muted' }, 'no marks in this log')]),
    );
  });
  app.on('select', ({ entry }) => {
    for (const li of list.children)
      li.classList.toggle('selected', Number((li as HTMLElement).dataset.entry) === entry);
  });
}
