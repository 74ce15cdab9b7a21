// A log on an HTTP server as a ByteSource, read with Range requests (what `logwrites view`
// serves), so the page never downloads more of the log than it looks at.

import type { ByteSource } from '../reader.ts';
import { readAheadSource } from './read-ahead.ts';
import { HttpSourceError } from '../errors.ts';
import { fetchRange, requestRange, type RangeFetch } from './range-fetch.ts';

export interface HttpSourceOptions {
  /** How the scan's ranges are fetched (the viewer: in a fetch worker); by default with `fetchFn` in this thread. */
  readonly fetchRange?: RangeFetch;
}

/** Open `url`; its size comes from the Content-Range of a one-byte request. */
export async function httpSource(
  url: string,
  fetchFn: typeof fetch = fetch,
  opts: HttpSourceOptions = {},
): Promise<ByteSource> {
  const first = await requestRange(url, 0, 1, fetchFn);
  await first.arrayBuffer();
  const total = /\/(\d+)$/.exec(first.headers.get('content-range') ?? '')?.[1];
  if (total === undefined) throw new HttpSourceError(url, 'no size in Content-Range');
  const ranges = opts.fetchRange ?? ((u, start, end) => fetchRange(u, start, end, fetchFn));
  // A scan's next range is requested while this one is parsed, as for a Blob: one request
  // after another left the server idle during parsing (4-5x the file picker's time). Ranges
  // are 32 MiB: Chromium fetched localhost at 34-48 MiB/s in 4 or 16 MiB ranges and at
  // 85-105 MiB/s in 32 MiB ones (two in flight, a loaded 2-core machine); with the fetch
  // worker and BYOB reads, 16 and 64 MiB measured no faster than 32.
  return readAheadSource(Number(total), (offset, end) => ranges(url, offset, end), { aheadBytes: 32 << 20 });
}
