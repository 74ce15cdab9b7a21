// Write-behind for replay targets: a worker thread fdatasyncs the target now and then while
// the main thread keeps writing, so the disk works during the replay rather than all in the
// final fsync. Page-cache writes are cheap and a replay's own CPU work overlaps the device's;
// without this, a large replay's closing fsync costs as much as the replay itself.

import type { Worker } from 'node:worker_threads';
import { workerThreads } from './lazy.ts';

const IDLE = 0;
const REQUESTED = 1;

/** The worker: wait for a request, sync, go back to idle. Plain CommonJS for `eval`. */
const WORKER = `
const { workerData } = require('node:worker_threads');
const { fdatasyncSync } = require('node:fs');
const state = new Int32Array(workerData.state);
for (;;) {
  Atomics.wait(state, 0, ${IDLE});
  try { fdatasyncSync(workerData.fd); } catch {}
  Atomics.store(state, 0, ${IDLE});
}
`;

export class WriteBehind {
  private readonly state = new Int32Array(new SharedArrayBuffer(4));
  private worker: Worker | undefined;
  private dirty = 0;

  /** Ask for a sync each time `every` more bytes were written and the last sync is done. */
  constructor(
    private readonly fd: number,
    private readonly every = 128 * 1024 * 1024,
  ) {}

  wrote(bytes: number): void {
    this.dirty += bytes;
    if (this.dirty < this.every || Atomics.load(this.state, 0) !== IDLE) return;
    this.dirty = 0;
    if (!this.worker) {
      this.worker = new (workerThreads().Worker)(WORKER, {
        eval: true,
        workerData: { fd: this.fd, state: this.state.buffer },
      });
      // Never keep the process alive for it; close() ends it.
      this.worker.unref();
    }
    Atomics.store(this.state, 0, REQUESTED);
    Atomics.notify(this.state, 0);
  }

  close(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
