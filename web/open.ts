// Opening a log: the file picker, drag-and-drop anywhere on the page, or `?log=URL` (what
// `logwrites view` passes). Indexing runs in the worker; the bar shows progress and cancels.

import type { SourceSpec } from '../src/browser/protocol.ts';
import { LogwritesError } from '../src/errors.ts';
import type { App } from './app.ts';
import { byId, bytes } from './dom.ts';
import { renderSummary } from './summary.ts';

/** Marks the page sets for tests and benchmarks: when the summary first shows, when the index is in. */
export const MARK_SUMMARY = 'logwrites:summary';
export const MARK_INDEXED = 'logwrites:indexed';
/** When the timeline was first drawn after the index came in. */
export const MARK_PLOTTED = 'logwrites:plotted';

export function mountOpen(app: App): void {
  const bar = byId('progress');
  const meter = byId<HTMLProgressElement>('progress-bar');
  const text = byId('progress-text');
  const name = byId('log-name');
  const error = byId('open-error');
  const main = byId('app');
  let current: number | undefined;

  const open = async (source: SourceSpec) => {
    if (current !== undefined) app.worker.cancel(current);
    performance.clearMarks();
    performance.mark('logwrites:chosen');
    document.body.dataset.state = 'indexing';
    name.textContent = source.name;
    error.textContent = '';
    bar.hidden = false;
    meter.value = 0;
    text.textContent = 'opening…';
    const started = performance.now();
    let shown = false;
    const call = app.worker.call('open', { source }, (s) => {
      if (!shown) {
        main.classList.remove('empty');
        shown = true;
      }
      renderSummary(app, s);
      if (!performance.getEntriesByName(MARK_SUMMARY).length) performance.mark(MARK_SUMMARY);
      meter.value = s.logBytes ? s.bytesIndexed / s.logBytes : 1;
      text.textContent = `${bytes(s.bytesIndexed)} of ${bytes(s.logBytes)}`;
    });
    current = call.id;
    try {
      const { index, summary, kernels } = await call.done;
      main.classList.remove('empty');
      app.load({ index, summary });
      renderSummary(app, summary, {
        kernels: kernels === 'wasm' ? 'WebAssembly' : 'TypeScript',
        seconds: (performance.now() - started) / 1000,
      });
      performance.mark(MARK_INDEXED);
      bar.hidden = true;
      document.body.dataset.state = 'ready';
    } catch (e) {
      if (current !== call.id) return;
      const message = (e as Error).message;
      const cancelled = e instanceof LogwritesError && e.code === 'ECANCELLED';
      // The worker let go of any log opened before, so the page shows none rather than
      // the old log's panels under this one's name and partial summary.
      app.unload();
      main.classList.add('empty');
      name.textContent = '';
      bar.hidden = true;
      error.textContent = cancelled
        ? `${source.name}: opening cancelled; no log is open`
        : `${source.name}: ${message}`;
      document.body.dataset.state = cancelled ? 'cancelled' : 'error';
    } finally {
      if (current === call.id) current = undefined;
    }
  };

  byId('cancel').addEventListener('click', () => current !== undefined && app.worker.cancel(current));
  const input = byId<HTMLInputElement>('file');
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void open({ kind: 'blob', blob: file, name: file.name });
    input.value = '';
  });

  const overlay = byId('drop-overlay');
  let depth = 0;
  const hasFiles = (ev: DragEvent) => ev.dataTransfer?.types.includes('Files') ?? false;
  window.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev)) return;
    depth++;
    overlay.hidden = false;
  });
  window.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      overlay.hidden = true;
    }
  });
  window.addEventListener('dragover', (ev) => {
    if (hasFiles(ev)) ev.preventDefault();
  });
  window.addEventListener('drop', (ev) => {
    ev.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const file = ev.dataTransfer?.files[0];
    if (file) void open({ kind: 'blob', blob: file, name: file.name });
  });

  const url = new URLSearchParams(location.search).get('log');
  if (url)
    void open({
      kind: 'url',
      url: new URL(url, location.href).href,
      name: decodeURIComponent(url.split('/').pop() ?? url),
    });
}
