// One forward pass over a log that fills an IndexBuilder (see log-index.ts), reporting progress and stopping
// early when asked. Problems in the log become warnings: the viewer shows what it could read.

import { LogFormatError } from './format.ts';
import type { LogReader } from './reader.ts';
import { IndexBuilder, type LogIndex, type Summary } from './log-index.ts';

export class Cancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'Cancelled';
  }
}

export interface IndexOptions {
  name: string;
  signal?: AbortSignal;
  /** Called at most every `progressMs` with the summary so far. */
  onProgress?: (s: Summary) => void;
  progressMs?: number;
  chunkSize?: number;
}

export async function indexLog(reader: LogReader, opts: IndexOptions): Promise<{ index: LogIndex; summary: Summary }> {
  const b = new IndexBuilder(opts.name, reader.source.size, reader.sectorSize, reader.nrEntries);
  const every = opts.progressMs ?? 100;
  let last = Date.now();
  // The super alone is worth showing while the first chunk is read.
  opts.onProgress?.(b.summary(false));
  try {
    for await (const batch of reader.batches({ pastEnd: true, chunkSize: opts.chunkSize })) {
      for (const e of batch.entries) b.add(e);
      if (opts.signal?.aborted) throw new Cancelled();
      const now = Date.now();
      if (now - last >= every) {
        last = now;
        opts.onProgress?.(b.summary(false));
        // Reads that complete without a task (in-memory Blobs) would otherwise keep a cancel
        // message waiting until the walk ends; one task turn per report costs nothing.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  } catch (e) {
    if (!(e instanceof LogFormatError)) throw e;
    b.warn({ entry: e.entry, offset: e.offset, message: e.reason });
  }
  return { index: b.finish(), summary: b.summary(true) };
}
