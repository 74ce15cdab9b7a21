// One HTTP Range request read into one buffer: what the HTTP source's read-ahead asks for,
// in this thread or in a fetch worker (range-worker.ts).

import { HttpSourceError, LogwritesError } from '../errors.ts';

/** Bytes [start, end) of `url`, read with one Range request. */
export type RangeFetch = (url: string, start: number, end: number) => Promise<Uint8Array>;

/** Ask for bytes [start, end) of `url`; anything but 206 Partial Content is an error. */
export async function requestRange(url: string, start: number, end: number, fetchFn: typeof fetch): Promise<Response> {
  const res = await fetchFn(url, { headers: { Range: `bytes=${start}-${end - 1}` } });
  if (res.status !== 206)
    throw new HttpSourceError(
      url,
      `range request for bytes ${start}-${end - 1} answered ${res.status} ${res.statusText}, want 206`,
    );
  return res;
}

/**
 * Bytes [start, end) of `url`. The body is read straight into a buffer of the range's size
 * (a BYOB reader) where the browser offers one: Response.arrayBuffer() collected it in pieces
 * and copied them once more, and the thread reading the 1.1 GiB log spent 2.8-2.9 s of CPU
 * on it against 2.2 s (bench/viewer's log, Chromium 156). A body shorter than the range is
 * an error, never a short read the walk would take for the log's end.
 */
export async function fetchRange(
  url: string,
  start: number,
  end: number,
  fetchFn: typeof fetch = fetch,
): Promise<Uint8Array> {
  const what = `range request for bytes ${start}-${end - 1}`;
  try {
    const res = await requestRange(url, start, end, fetchFn);
    const want = end - start;
    const bytes = (await readInto(res, want)) ?? new Uint8Array(await res.arrayBuffer());
    if (bytes.length !== want) throw new HttpSourceError(url, `${what} answered ${bytes.length} bytes, want ${want}`);
    return bytes;
  } catch (e) {
    // fetch fails with a bare TypeError ("Failed to fetch", a connection reset mid-body).
    if (e instanceof LogwritesError) throw e;
    throw new HttpSourceError(url, `${what} failed: ${(e as Error).message}`);
  }
}

/** The body read into one buffer of `want` bytes (fewer if it ends first), or undefined where bodies have no BYOB reader. */
async function readInto(res: Response, want: number): Promise<Uint8Array | undefined> {
  let reader: ReadableStreamBYOBReader;
  try {
    if (!res.body) return undefined;
    reader = res.body.getReader({ mode: 'byob' });
  } catch {
    return undefined;
  }
  let buffer = new ArrayBuffer(want);
  let at = 0;
  while (at < want) {
    const { value, done } = await reader.read(new Uint8Array(buffer, at, want - at));
    if (!value) break;
    // Each read hands the buffer back (it was transferred to the stream and back).
    buffer = value.buffer as ArrayBuffer;
    at += value.length;
    if (done) break;
  }
  if (at === want) {
    // More than was asked for is a broken server; the body is not read further.
    await reader.cancel().catch(() => undefined);
    return new Uint8Array(buffer);
  }
  return new Uint8Array(buffer, 0, at);
}
