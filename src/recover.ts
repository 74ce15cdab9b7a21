// After a crash: how many entries a log really holds, whatever its super says.
//
// The kernel rewrites nr_entries only when it logs a FUA or a mark, so a log whose target
// crashed (or is still live) holds valid entries past the count; a log cut short holds fewer
// than the count. Both are found by walking headers from the first entry. Past nr_entries the
// walk is stricter than a normal read (every padding byte must be zero, every payload whole),
// since there nothing but the header itself vouches for an entry.

import { decodeHeader, LogFormatError, payloadBytes } from './format.ts';
import type { Entry, LogReader, Position } from './reader.ts';

export interface Recovery {
  readonly sectorSize: number;
  /** What the super says. */
  readonly nrEntries: number;
  /** Whole, valid entries found walking from entry 0: what nr_entries should say. */
  readonly validEntries: number;
  /** The valid entries the super does not count (empty when the log holds fewer than it says). */
  readonly trailing: readonly Entry[];
  /** Byte offset right after the last valid entry. */
  readonly end: number;
  /** Why the walk stopped there: the end of the log, or what is wrong with the next entry. */
  readonly stoppedBecause: string;
}

/** Walk a log's headers (and check its payloads fit) to find every valid entry. */
export async function recover(reader: LogReader): Promise<Recovery> {
  const size = reader.source.size;
  let at: Position = reader.first;
  let stopped: string | undefined;
  /** Takes a whole entry; a counted one whose payload the log lacks ends the walk. */
  const take = (e: Entry): boolean => {
    const end = e.payloadOffset + e.payloadLength;
    if (end > size) {
      stopped ??= new LogFormatError(e.offset, `truncated payload: ${e.payloadLength} bytes need the log to reach byte ${end}, it ends at ${size}`, e.index, 'truncated-payload').message;
      return false;
    }
    at = { index: e.index + 1, offset: end };
    return true;
  };
  try {
    counted: for await (const b of reader.batches({ payloads: true })) for (const e of b.entries) if (!take(e)) break counted;
  } catch (e) {
    if (!(e instanceof LogFormatError)) throw e;
    stopped = e.message;
  }
  const trailing: Entry[] = [];
  if (stopped === undefined) {
    trailing: for await (const b of reader.batches({ from: at, payloads: true, pastEnd: true, checkPadding: true })) {
      for (const e of b.entries) {
        if (!take(e)) break trailing;
        trailing.push(e);
      }
    }
    // Past nr_entries the walk stops silently: say what is wrong with the next entry.
    stopped = await whyNotNext(reader, at);
  }
  return {
    sectorSize: reader.sectorSize,
    nrEntries: reader.nrEntries,
    validEntries: at.index,
    trailing,
    end: at.offset,
    stoppedBecause: stopped,
  };
}

/** What keeps the bytes at `at` from being one more entry (the past-end walk stops silently). */
async function whyNotNext(reader: LogReader, at: Position): Promise<string> {
  const S = reader.sectorSize;
  const size = reader.source.size;
  if (at.offset === size) return `the log ends at byte ${size}`;
  if (at.offset + S > size) return `the log ends at byte ${size}, inside the next header`;
  const sector = await reader.source.read(at.offset, S);
  try {
    const h = decodeHeader(sector, S, at.offset, at.index, true);
    const next = at.offset + S + payloadBytes(h, S);
    return `entry ${at.index} at byte ${at.offset}: its payload needs the log to reach byte ${next}, it ends at ${size}`;
  } catch (e) {
    if (e instanceof LogFormatError) return e.message;
    throw e;
  }
}

/** The super sector `original` with nr_entries set to `nrEntries`, every other byte kept. */
export function superWithCount(original: Uint8Array, nrEntries: number): Uint8Array {
  const out = original.slice();
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(16, BigInt(nrEntries), true);
  return out;
}
