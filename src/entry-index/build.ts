// One forward pass over a log that fills an IndexBuilder (see log-index.ts), reporting progress and stopping
// early when asked. Problems in the log become warnings: the viewer shows what it could read.

import type { LogReader } from '../reader.ts';
import { IndexBuilder, type LogIndex, type Summary } from './log-index.ts';
import { Cancelled, LogFormatError, LogwritesError } from '../errors.ts';

export interface IndexOptions {
  name: string;
  signal?: AbortSignal;
  /** Called at most every `progressMs` with the summary so far. */
  onProgress?: (s: Summary) => void;
  progressMs?: number;
  chunkSize?: number;
}

/**
 * The longest a walk goes without letting messages in. A turn after every batch cost 10 µs
 * per read, ten times the walk itself where only header sectors are read.
 */
const TURN_MS = 4;

export async function indexLog(reader: LogReader, opts: IndexOptions): Promise<{ index: LogIndex; summary: Summary }> {
  const b = new IndexBuilder(opts.name, reader.source.size, reader.sectorSize, reader.nrEntries);
  const every = opts.progressMs ?? 100;
  let last = Date.now();
  let turned = last;
  // The super alone is worth showing while the first chunk is read.
  opts.onProgress?.(b.summary(false));
  /** Where the walk goes on: the entry after the last one added. */
  let next = { entry: 0, offset: reader.first.offset };
  try {
    for await (const batch of reader.batches({ pastEnd: true, chunkSize: opts.chunkSize })) {
      for (const e of batch.entries) b.add(e);
      const tail = batch.entries.at(-1);
      if (tail) next = { entry: tail.index + 1, offset: tail.payloadOffset + tail.payloadLength };
      const now = Date.now();
      if (now - turned >= TURN_MS) {
        // Reads that complete without a task (in-memory Blobs, chunks read ahead) would
        // otherwise keep a cancel message waiting until the walk ends.
        turned = now;
        await nextTask();
      }
      if (opts.signal?.aborted) throw new Cancelled();
      if (now - last >= every) {
        last = now;
        opts.onProgress?.(b.summary(false));
      }
    }
  } catch (e) {
    if (e instanceof LogFormatError) b.warn({ entry: e.entry, offset: e.offset, message: e.reason });
    // A read that failed (an HTTP range cut off) ends the index where it stopped, said so.
    else if (e instanceof LogwritesError && !(e instanceof Cancelled))
      b.warn({ entry: next.entry, offset: next.offset, message: `not read further: ${e.message}` });
    else throw e;
  }
  return { index: b.finish(), summary: b.summary(true) };
}

/**
 * One turn of the event loop, so that messages waiting (a cancel) are handled. A setTimeout(0)
 * would do the same, but in a worker a chain of them is clamped to 4 ms each.
 */
function nextTask(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
