// A log on an HTTP server as a ByteSource, read with Range requests (what `logwrites view`
// serves), so the page never downloads more of the log than it looks at.

import type { ByteSource } from '../reader.ts';
import { readAheadSource } from './read-ahead.ts';
import { HttpSourceError } from '../errors.ts';


async function range(url: string, start: number, end: number, fetchFn: typeof fetch): Promise<Response> {
  const res = await fetchFn(url, { headers: { Range: `bytes=${start}-${end}` } });
  if (res.status !== 206) throw new HttpSourceError(url, `range request answered ${res.status} ${res.statusText}, want 206`);
  return res;
}

/** Open `url`; its size comes from the Content-Range of a one-byte request. */
export async function httpSource(url: string, fetchFn: typeof fetch = fetch): Promise<ByteSource> {
  const first = await range(url, 0, 0, fetchFn);
  await first.arrayBuffer();
  const total = /\/(\d+)$/.exec(first.headers.get('content-range') ?? '')?.[1];
  if (total === undefined) throw new HttpSourceError(url, 'no size in Content-Range');
  // A scan's next range is requested while this one is parsed, as for a Blob: one request
  // after another left the server idle during parsing (4-5x the file picker's time). Ranges
  // are 32 MiB: Chromium fetched localhost at 34-48 MiB/s in 4 or 16 MiB ranges and at
  // 85-105 MiB/s in 32 MiB ones (two in flight, a loaded 2-core machine).
  return readAheadSource(Number(total), async (offset, end) => new Uint8Array(await (await range(url, offset, end - 1, fetchFn)).arrayBuffer()), { aheadBytes: 32 << 20 });
}
