// After a crash: how many entries a log really holds, whatever its super says.
//
// The kernel rewrites nr_entries only when it logs a FUA or a mark, so a log whose target
// crashed (or is still live) holds valid entries past the count; a log cut short holds fewer
// than the count. Both are found by walking headers from the first entry. Past nr_entries the
// walk is stricter than a normal read (every padding byte must be zero, every payload whole),
// since there nothing but the header itself vouches for an entry.

import { decodeHeader, payloadBytes, SuperField } from './format.ts';
import { Advance, type ByteSource, type Entry, type LogReader, type Position } from './reader.ts';
import { LogFormatError, truncatedPayload } from './errors.ts';

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
      stopped ??= truncatedPayload(e, size).message;
      return false;
    }
    at = { index: e.index + 1, offset: end };
    return true;
  };
  try {
    counted: for await (const b of reader.batches({ payloads: true }))
      for (const e of b.entries) if (!take(e)) break counted;
  } catch (e) {
    if (!(e instanceof LogFormatError)) throw e;
    stopped = e.message;
  }
  const trailing: Entry[] = [];
  if (stopped === undefined) {
    for await (const e of pastEnd(reader, at)) {
      if (!take(e)) break;
      trailing.push(e);
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

/**
 * The valid entries past nr_entries from `at`, the end of the counted ones. Past the count the
 * walk is strict (padding checked, payloads whole), since nothing but the header vouches there.
 */
async function* pastEnd(reader: LogReader, at: Position): AsyncGenerator<Entry> {
  for await (const b of reader.batches({ from: at, payloads: true, pastEnd: true, checkPadding: true }))
    yield* b.entries;
}

/** What a crash left in a log, as a command that reads it should say: see `crashSigns`. */
export interface CrashSigns {
  readonly nrEntries: number;
  /** Whole, valid entries from entry 0 (more than nrEntries past the count, fewer when cut). */
  readonly validEntries: number;
  /** Where they end: the size of the valid prefix. */
  readonly end: number;
  /** The counted entry the log ends inside (its header or its payload), when it is cut. */
  readonly cutAt?: { readonly index: number; readonly offset: number };
}

/**
 * Valid entries past nr_entries, or a log that ends inside a counted entry; undefined when the
 * log is as its super says, or is damaged some other way (the command's own walk says where).
 * One header walk (none when an earlier walk found every counted entry whole): cheaper than
 * `recover`, which also reads the payloads.
 */
export async function crashSigns(reader: LogReader): Promise<CrashSigns | undefined> {
  if (reader.countedEnd) return pastEndSigns(reader, reader.countedEnd);
  const size = reader.source.size;
  let at: Position = reader.first;
  const signs = (validEntries: number, end: number, cutAt?: CrashSigns['cutAt']): CrashSigns => ({
    nrEntries: reader.nrEntries,
    validEntries,
    end,
    ...(cutAt ? { cutAt } : {}),
  });
  try {
    // The cursor walks without allocating per entry: this runs before every command.
    const c = reader.cursor({ reuseBuffer: true });
    for (let step = c.advance(); step !== Advance.End; step = c.advance()) {
      if (step === Advance.Read) {
        await c.fill();
        continue;
      }
      if (c.payloadOffset + c.payloadLength > size)
        return signs(c.index, at.offset, { index: c.index, offset: c.offset });
      at = c.position;
    }
  } catch (e) {
    if (e instanceof LogFormatError && e.kind === 'truncated-header')
      return signs(at.index, at.offset, { index: at.index, offset: at.offset });
    if (e instanceof LogFormatError) return undefined;
    throw e;
  }
  return pastEndSigns(reader, at);
}

/** Valid entries past nr_entries, looked for from `at`, the end of the counted entries (a walk that got there knows it). */
export async function pastEndSigns(reader: LogReader, at: Position): Promise<CrashSigns | undefined> {
  let last: Entry | undefined;
  for await (const e of pastEnd(reader, at)) last = e;
  return last
    ? { nrEntries: reader.nrEntries, validEntries: last.index + 1, end: last.payloadOffset + last.payloadLength }
    : undefined;
}

/** A path as the shell reads it back. */
const shellWord = (p: string) => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

/** The command that shows what a crash left in a log. */
export const recoverHint = (logPath: string) => `logwrites recover ${shellWord(logPath)}`;

/** The one line a command that read a crashed log says about it, with the command to run. */
export function crashNote(logPath: string, c: CrashSigns): string {
  const run = recoverHint(logPath);
  if (c.cutAt) {
    return `${logPath} ends inside entry ${c.cutAt.index} at byte ${c.cutAt.offset} (nr_entries says ${c.nrEntries}), as a crashed log can; read as its ${c.validEntries} whole entries (see: ${run})`;
  }
  return `${logPath} holds ${c.validEntries - c.nrEntries} valid entries past the ${c.nrEntries} nr_entries counts, as a crashed or live log does; read as the ${c.nrEntries} counted (to count them: ${run} --write)`;
}

/**
 * A cut log's valid prefix, read as `recover --write` would leave it: the bytes up to the end
 * of the last whole entry, with nr_entries counting exactly those. Nothing is written.
 */
export function validPrefix(source: ByteSource, signs: CrashSigns): ByteSource {
  // The reader reads the super from byte 0 and entries only after it.
  const patch = (offset: number, bytes: Uint8Array) =>
    offset === 0 && bytes.length >= SuperField.NR_ENTRIES + 8 ? superWithCount(bytes, signs.validEntries) : bytes;
  const clip = (offset: number, length: number) => Math.max(0, Math.min(length, signs.end - offset));
  return {
    size: signs.end,
    read: (offset, length) => {
      const got = source.read(offset, clip(offset, length));
      return got instanceof Uint8Array ? patch(offset, got) : got.then((b) => patch(offset, b));
    },
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
  // A copy even of a Buffer (whose slice() is a view).
  const out = new Uint8Array(original);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(SuperField.NR_ENTRIES, BigInt(nrEntries), true);
  return out;
}
