// The viewer's Web Worker: reads, indexes, hashes and replays, so the page never blocks. The
// same script, started again by it under another name, is its fetch worker: it reads the HTTP
// source's ranges while this one indexes (src/browser/range-worker.ts).
import { loadKernels } from '../src/kernels/load.ts';
import type { Port } from '../src/browser/protocol.ts';
import type { RangeFetch } from '../src/browser/range-fetch.ts';
import { rangesThrough, serveRanges } from '../src/browser/range-worker.ts';
import { serveViewer } from '../src/browser/service.ts';

const FETCH_WORKER = 'logwrites-fetch';

if (self.name === FETCH_WORKER) serveRanges(self as unknown as Port);
else {
  let ranges: RangeFetch | undefined;
  // Started on the first range asked for: a log from the file picker needs none.
  const fetchRange: RangeFetch = (url, start, end) =>
    (ranges ??= rangesThrough(new Worker(self.location.href, { name: FETCH_WORKER })))(url, start, end);
  // Where workers cannot start workers, the ranges are read in this one.
  serveViewer(self as unknown as Port, loadKernels, typeof Worker === 'undefined' ? {} : { fetchRange });
}
