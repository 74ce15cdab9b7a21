// Range reads in a worker of their own: the HTTP source's read-ahead asks, the fetch worker
// reads each body into a buffer and transfers it back (nothing copied). Reading a body costs
// the reading thread as much as indexing it (bench/viewer's profile: 0.9 s and 1.3 s of CPU
// for the 1.1 GiB log), so in one thread the two took turns; in two they overlap.

import { LogwritesError, type ErrorJSON } from '../errors.ts';
import type { Port } from './protocol.ts';
import { fetchRange, type RangeFetch } from './range-fetch.ts';

interface RangeAsk {
  readonly id: number;
  readonly url: string;
  readonly start: number;
  readonly end: number;
}

type RangeAnswer =
  | { readonly id: number; readonly bytes: Uint8Array }
  | { readonly id: number; readonly error: ErrorJSON };

/** The fetch worker's side: answers every RangeAsk on `port` with the bytes or the error. */
export function serveRanges(port: Port, fetchFn: typeof fetch = fetch): void {
  port.addEventListener('message', (ev) => {
    const { id, url, start, end } = ev.data as RangeAsk;
    fetchRange(url, start, end, fetchFn).then(
      (bytes) => port.postMessage({ id, bytes } satisfies RangeAnswer, [bytes.buffer as ArrayBuffer]),
      // fetchRange fails only with LogwritesErrors (an HttpSourceError naming the range).
      (e: LogwritesError) => port.postMessage({ id, error: e.toJSON() } satisfies RangeAnswer),
    );
  });
  port.start?.();
}

/** The asking side: a RangeFetch whose ranges the worker behind `port` reads. */
export function rangesThrough(port: Port): RangeFetch {
  let nextId = 1;
  const pending = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  port.addEventListener('message', (ev) => {
    const answer = ev.data as RangeAnswer;
    const p = pending.get(answer.id);
    if (!p) return;
    pending.delete(answer.id);
    if ('bytes' in answer) p.resolve(answer.bytes);
    else p.reject(LogwritesError.fromJSON(answer.error));
  });
  port.start?.();
  return (url, start, end) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      port.postMessage({ id, url, start, end } satisfies RangeAsk);
    });
}
