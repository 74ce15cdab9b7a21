// A Blob (a File the user dropped or picked) as a ByteSource. Blob.slice() reads only the
// bytes asked for, so a multi-GiB log never has to fit in memory.

import type { ByteSource } from '../reader.ts';

/** Reads of at least this many bytes are taken to be a sequential scan and read ahead. */
const READ_AHEAD_MIN = 1024 * 1024;

export function blobSource(blob: Blob): ByteSource {
  // The next chunk of a sequential scan is fetched while the caller parses this one, so the
  // browser's file reads overlap with header decoding. More chunks in flight, or reading in a
  // second worker, measured no faster (bench/viewer, 2 cores): Blob reads are CPU-bound there.
  let ahead: { offset: number; length: number; bytes: Promise<Uint8Array> } | undefined;
  const fetch = async (offset: number, length: number) =>
    new Uint8Array(await blob.slice(offset, Math.min(blob.size, offset + length)).arrayBuffer());
  return {
    size: blob.size,
    read(offset, length) {
      const hit = ahead && ahead.offset === offset && ahead.length === length ? ahead.bytes : undefined;
      ahead = undefined;
      const bytes = hit ?? fetch(offset, length);
      const next = offset + length;
      if (length >= READ_AHEAD_MIN && next < blob.size) ahead = { offset: next, length, bytes: fetch(next, length) };
      return bytes;
    },
  };
}
