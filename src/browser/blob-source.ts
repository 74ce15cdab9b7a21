// A Blob (a File the user dropped or picked) as a ByteSource. Blob.slice() reads only the
// bytes asked for, so a multi-GiB log never has to fit in memory.

import type { ByteSource } from '../reader.ts';
import { readAheadSource } from './read-ahead.ts';

export function blobSource(blob: Blob): ByteSource {
  // The next chunk of a sequential scan is fetched while the caller parses this one. More
  // chunks in flight, or reading in a second worker, measured no faster (bench/viewer, 2
  // cores): Blob reads are CPU-bound there.
  return readAheadSource(blob.size, (offset, end) =>
    blob
      .slice(offset, end)
      .arrayBuffer()
      .then((b) => new Uint8Array(b)),
  );
}
