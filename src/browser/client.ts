// The page's end of the worker protocol: calls return promises, progress goes to a callback,
// and a failed call rejects with the worker's error rebuilt (a RemoteError: its code, name, message).

import type { Args, CallName, Port, Progress, Reply, Result } from './protocol.ts';
import { LogwritesError } from '../errors.ts';

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  progress?: (p: unknown) => void;
}

export interface Call<K extends CallName> {
  readonly id: number;
  readonly done: Promise<Result<K>>;
}

export class ViewerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly port: Port) {
    port.addEventListener('message', (ev) => this.receive(ev.data as Reply));
    port.start?.();
  }

  call<K extends CallName>(call: K, args: Args<K>, onProgress?: (p: Progress<K>) => void): Call<K> {
    const id = this.nextId++;
    const done = new Promise<Result<K>>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        progress: onProgress as ((p: unknown) => void) | undefined,
      });
    });
    this.port.postMessage({ id, call, args });
    return { id, done };
  }

  cancel(id: number): void {
    this.call('cancel', { id });
  }

  private receive(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    if (r.kind === 'progress') return p.progress?.(r.progress);
    this.pending.delete(r.id);
    if (r.kind === 'result') p.resolve(r.result);
    else p.reject(LogwritesError.fromJSON(r.error));
  }
}
