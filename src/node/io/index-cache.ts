// The entry index of a log kept between calls, so that xfstests' many short calls over one
// log (each from entry 0) cost a lookup, not a walk of the log: the first call walks every
// counted entry once and stores the index; the calls after it read it back.
//
// It is a cache in the user's cache directory ($XDG_CACHE_HOME/logwrites, else
// $HOME/.cache/logwrites; LOGWRITES_CACHE_DIR to choose another, LOGWRITES_CACHE=off for none),
// never next to the log. It can never be stale: a stored index is used only when the log's
// identity (log-identity.ts: its inode and times, or its device's write counters, its size
// and its super sector) is what it was when the index was stored; otherwise the log is walked
// again. Files are written whole and renamed into place, so a reader never sees half of one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeIndex, encodeIndex } from '../../entry-index/serialize.ts';
import { KnownEntries } from '../../entry-index/known.ts';
import type { LogIndex } from '../../entry-index/log-index.ts';
import type { LogReader } from '../../reader.ts';
import type { FileSource } from './file.ts';
import { logIdentity } from './log-identity.ts';

/** Stored indexes kept; older ones are removed when a new one is stored. */
const KEEP = 32;

export interface IndexCache {
  readonly known: KnownEntries;
  /** Store what walks added (nothing when they added nothing or the log has no identity). */
  save(): void;
}

/** Where stored indexes live, or undefined when the cache is off. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.LOGWRITES_CACHE === 'off' || env.LOGWRITES_CACHE === '0') return undefined;
  if (env.LOGWRITES_CACHE_DIR) return env.LOGWRITES_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (env.HOME && path.join(env.HOME, '.cache'));
  return base ? path.join(base, 'logwrites') : undefined;
}

/** The log's known entries: from a stored index when it is this log's, else none yet. */
export function openIndexCache(reader: LogReader, source: FileSource, dir = cacheDir()): IndexCache {
  const identity = dir === undefined ? undefined : logIdentity(source, superSector(reader, source));
  if (identity === undefined || dir === undefined) return noIndexCache(reader);
  const file = path.join(dir, `${keyOf(source)}.index`);
  const want = Buffer.from(identity);
  const stored = readStored(file);
  const fits = stored && want.equals(stored.identity) && stored.index.sectorSize === reader.sectorSize;
  const known = fits ? new KnownEntries(reader, stored.index) : KnownEntries.empty(reader);
  // Once, the whole log: a prefix that each call extended would be stored again at every call
  // (xfstests' loop goes a few entries further each time), costing more than it saves.
  known.completeAll();
  return {
    known,
    save() {
      if (known.added) store(dir, file, { identity: want, index: known.index() });
    },
  };
}

interface Stored {
  readonly identity: Uint8Array;
  readonly index: LogIndex;
}

/**
 * The stored files this process read or wrote last, decoded, by path and the file's own stat:
 * a process that serves many calls (the replay-log server) takes one from here instead of
 * reading and decoding it again (~0.15 ms of a 2.5 ms find). A file removed or replaced since
 * is read again; what is taken from here still fits a log only under its stored identity.
 */
const decoded = new Map<string, { stamp: string; stored: Stored }>();
const DECODED = 4;

const stampOf = (st: fs.Stats) => `${st.ino} ${st.size} ${st.mtimeMs} ${st.ctimeMs}`;

/** Keep `stored` as the content of `file`, whose stat (taken before it was read) is `st`. */
function remember(file: string, stored: Stored, st = fs.statSync(file, { throwIfNoEntry: false })): void {
  decoded.delete(file);
  if (!st) return;
  decoded.set(file, { stamp: stampOf(st), stored });
  for (const old of decoded.keys()) if (decoded.size > DECODED) decoded.delete(old);
}

/** No stored index: walks read the log and record nothing. */
export const noIndexCache = (reader: LogReader): IndexCache => ({
  known: KnownEntries.empty(reader, false),
  save() {},
});

const superSector = (reader: LogReader, source: FileSource) =>
  source.read(0, Math.min(source.size, reader.sectorSize)) as Uint8Array;

/** The names keyOf gives: the only files prune may remove (the folder can be the user's choice). */
const OURS = /^(file-\d+-\d+|dev-\d+)\.index$/;

/** One file per log: by inode for a file, by device number for a device. */
function keyOf(source: FileSource): string {
  const { info } = source;
  return info.isBlockDevice ? `dev-${info.rdev}` : `file-${info.dev}-${info.ino}`;
}

function readStored(file: string): Stored | undefined {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (!st) return undefined;
    const held = decoded.get(file);
    if (held?.stamp === stampOf(st)) return held.stored;
    const stored = decodeIndex(fs.readFileSync(file));
    if (stored) remember(file, stored, st);
    return stored;
  } catch {
    return undefined;
  }
}

/** Write whole, rename into place, and keep the directory to KEEP files. A cache that cannot be written is no error. */
function store(dir: string, file: string, stored: Stored): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, encodeIndex(stored.index, stored.identity), { mode: 0o600 });
    fs.renameSync(tmp, file);
    remember(file, stored);
    prune(dir);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

function prune(dir: string): void {
  const files = fs
    .readdirSync(dir)
    .filter((n) => OURS.test(n))
    .map((n) => ({ n, t: fs.statSync(path.join(dir, n)).mtimeMs }));
  if (files.length <= KEEP) return;
  files.sort((a, b) => b.t - a.t);
  for (const f of files.slice(KEEP)) fs.rmSync(path.join(dir, f.n), { force: true });
}
