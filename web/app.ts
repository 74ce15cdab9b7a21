// What the panels share: the open log's index and summary, the rows the filters leave, and
// the selected entry. Panels listen for changes instead of calling one another.

import type { LogIndex, Summary } from '../src/entry-index/log-index.ts';
import type { Rows } from '../src/browser/rows.ts';
import type { ViewerClient } from '../src/browser/client.ts';

export interface Loaded {
  readonly index: LogIndex;
  readonly summary: Summary;
}

interface Events {
  /** A log finished indexing. */
  loaded: Loaded;
  /** The filtered rows changed. */
  rows: Rows;
  /** An entry was selected; `reveal` asks views to bring it into sight. */
  select: { entry: number; reveal: boolean };
}

export class App {
  loaded?: Loaded;
  rows: Rows = null;
  selected = -1;
  private readonly listeners: { [K in keyof Events]: ((e: Events[K]) => void)[] } = {
    loaded: [],
    rows: [],
    select: [],
  };

  constructor(readonly worker: ViewerClient) {}

  on<K extends keyof Events>(event: K, fn: (e: Events[K]) => void): void {
    this.listeners[event].push(fn);
  }

  private emit<K extends keyof Events>(event: K, e: Events[K]): void {
    for (const fn of this.listeners[event]) fn(e);
  }

  load(l: Loaded): void {
    this.loaded = l;
    this.rows = null;
    this.selected = -1;
    this.emit('loaded', l);
    this.emit('rows', null);
  }

  /** Forget the log (the worker dropped it: another open failed or was cancelled). */
  unload(): void {
    this.loaded = undefined;
    this.rows = null;
    this.selected = -1;
  }

  setRows(rows: Rows): void {
    this.rows = rows;
    this.emit('rows', rows);
  }

  select(entry: number, reveal = true): void {
    if (!this.loaded || entry < 0 || entry >= this.loaded.index.count) return;
    this.selected = entry;
    this.emit('select', { entry, reveal });
  }
}
