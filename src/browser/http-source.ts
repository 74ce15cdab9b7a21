// A log on an HTTP server as a ByteSource, read with Range requests (what `logwrites view`
// serves), so the page never downloads more of the log than it looks at.

import type { ByteSource } from '../reader.ts';

export class HttpSourceError extends Error {
  constructor(url: string, what: string) {
    super(`${url}: ${what}`);
    this.name = 'HttpSourceError';
  }
}

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
  const size = Number(total);
  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + length);
      if (end <= offset) return new Uint8Array(0);
      const res = await range(url, offset, end - 1, fetchFn);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}
