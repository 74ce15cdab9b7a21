// `replay-log`: a drop-in for xfstests' src/log-writes/replay-log. Same options, same number
// parsing, same stdout byte for byte, same exit statuses and the same replayed image; stderr
// keeps upstream's wording and adds where the problem is. Deliberate differences are listed
// in the README.

import * as fs from 'node:fs';
import { Flag, flagNames, flagsHex, HEADER_BYTES, SUPER_BYTES, SuperField } from '../../format.ts';
import { Advance, LogReader, type Entry, type Position } from '../../reader.ts';
import type { EntryView, KnownEntries } from '../../entry-index/known.ts';
import { noIndexCache, openIndexCache, type IndexCache } from '../io/index-cache.ts';
import { holdsNo } from '../../range.ts';
import { crashNote, crashSigns, pastEndSigns, recoverHint } from '../../recover.ts';
import { overlaps, replay } from '../../replay/loop.ts';
import { CStdout, getoptLong, strtoull, u64Number, type LongOption, type Out } from './cstyle.ts';
import { discardSupported } from '../io/device-info.ts';
import { openSource, type FileSource } from '../io/file.ts';
import { childProcess } from '../io/lazy.ts';
import { loadNative } from '../io/native.ts';
import { discardsReadAsZeros, replayLogLastWrites } from './plan.ts';
import { openTarget, type FileTarget } from '../io/target.ts';
import { writeHazard } from '../guard/write-guard.ts';
import { Cancelled, LogFormatError, ReplayError, type PastTarget } from '../../errors.ts';

const LONG_OPTIONS: LongOption[] = [
  { name: 'next-flush', arg: 'none' },
  { name: 'next-fua', arg: 'none' },
  { name: 'start-entry', arg: 'required' },
  { name: 'end-mark', arg: 'required' },
  { name: 'log', arg: 'required' },
  { name: 'replay', arg: 'required' },
  { name: 'limit', arg: 'required' },
  { name: 'verbose', arg: 'none', val: 'v' },
  { name: 'find', arg: 'none' },
  { name: 'num-entries', arg: 'none' },
  { name: 'no-discard', arg: 'none' },
  { name: 'fsck', arg: 'required' },
  { name: 'check', arg: 'required' },
  { name: 'start-mark', arg: 'required' },
  { name: 'start-sector', arg: 'required' },
  { name: 'end-sector', arg: 'required' },
  // Ours, last so that it never changes what a prefix of upstream's options means.
  { name: 'force', arg: 'none' },
];

const USAGE = `Usage: replay-log --log <logfile> [options]
\t--replay <device> - replay onto a specific device
\t--limit <number> - number of entries to replay
\t--next-flush - replay to/find the next flush
\t--next-fua - replay to/find the next fua
\t--start-entry <entry> - start at the given entry #
\t--start-mark <mark> - mark to start from
\t--end-mark <mark> - replay to/find the given mark
\t--find - put replay-log in find mode, will search based on the other options
\t--number-entries - print the number of entries in the log
\t--no-discard - don't process discard entries
\t--fsck - the fsck command to run, must specify --check
\t--check [<number>|flush|fua] when to check the file system, mush specify --fsck
\t--start-sector <sector> - replay ops on region from <sector> onto <device>
\t--end-sector <sector> - replay ops on region to <sector> onto <device>
\t-v or --verbose - print replayed ops
\t-vv - print also skipped ops
\t--force - replay even onto a mounted device, the log itself, or past the end of a file (not in upstream)`;

/** Upstream keeps at most 4096 - sizeof(struct log_write_entry) bytes of a mark argument. */
const MARK_ARG_MAX = 4097 - 40;

type CheckMode = { kind: 'number'; every: bigint } | { kind: 'flag'; flag: number };

interface Options {
  logfile?: string;
  replayfile?: string;
  fsck?: string;
  check?: CheckMode;
  stopFlags: number;
  startEntry: bigint;
  startMark?: Uint8Array;
  endMark?: Uint8Array;
  startSector: number;
  endSector: number;
  limit: bigint;
  find: boolean;
  numEntries: boolean;
  discard: boolean;
  verbose: number;
  force: boolean;
}

/** exit(status) from anywhere inside main, as the C code does. */
class Exit {
  constructor(readonly status: number) {}
}

/** Where replay-log writes (its stdout as C stdio buffers it, its stderr) and the name it gives itself. */
export interface ReplayLogConsole {
  out: Out;
  err: (line: string) => void;
  prog: string;
  /**
   * Whether whoever asked for the call is gone (the replay-log server's client): the replay
   * then stops between two writes, as the call's own process would have been killed there.
   */
  gone?: () => boolean;
}

/** Stop a replay whose caller is gone (see ReplayLogConsole.gone). */
function stopIfGone(con: ReplayLogConsole): void {
  if (con.gone?.()) throw new Cancelled();
}

export function processConsole(): ReplayLogConsole {
  return { out: new CStdout(1), err: (line) => fs.writeSync(2, line + '\n'), prog: 'replay-log' };
}

function fail(con: ReplayLogConsole, line: string): never {
  con.err(line);
  throw new Exit(1);
}

/** A mark argument as the bytes strndup keeps. */
const markArg = (v: string) => Buffer.from(v, 'utf8').subarray(0, MARK_ARG_MAX);

function parseArgs(args: readonly string[], con: ReplayLogConsole): Options {
  const o: Options = {
    stopFlags: 0,
    startEntry: 0n,
    startSector: 0,
    endSector: Number.MAX_VALUE,
    limit: 0n,
    find: false,
    numEntries: false,
    discard: true,
    verbose: 0,
    force: false,
  };
  const usage = () => fail(con, USAGE);
  const number = (v: string, what: string): bigint => {
    const { value, end } = strtoull(v);
    if (end !== v.length) fail(con, `Invalid ${what} number`);
    return value;
  };
  for (const p of getoptLong(args, 'v', LONG_OPTIONS, con.prog, con.err)) {
    const value = 'value' in p ? (p.value ?? '') : '';
    switch (p.name) {
      case 'v':
      case 'verbose':
        o.verbose++;
        break;
      case 'next-flush':
        o.stopFlags |= Flag.FLUSH;
        break;
      case 'next-fua':
        o.stopFlags |= Flag.FUA;
        break;
      case 'start-entry':
        o.startEntry = number(value, 'entry');
        break;
      case 'start-mark':
        o.startMark = markArg(value);
        break;
      case 'end-mark':
        o.endMark = markArg(value);
        o.stopFlags |= Flag.MARK;
        break;
      case 'log':
        o.logfile = value;
        break;
      case 'replay':
        o.replayfile = value;
        break;
      case 'limit':
        o.limit = number(value, 'entry');
        break;
      case 'find':
        o.find = true;
        break;
      case 'num-entries':
        o.numEntries = true;
        break;
      case 'no-discard':
        o.discard = false;
        break;
      case 'fsck':
        o.fsck = value;
        break;
      case 'check':
        o.check = parseCheck(value, con);
        break;
      case 'start-sector':
        o.startSector = u64Number(number(value, 'sector'));
        break;
      case 'end-sector':
        o.endSector = u64Number(number(value, 'sector'));
        break;
      case 'force':
        o.force = true;
        break;
      default:
        usage();
    }
  }
  if (o.logfile === undefined) usage();
  return o;
}

function parseCheck(value: string, con: ReplayLogConsole): CheckMode {
  if (value === 'flush') return { kind: 'flag', flag: Flag.FLUSH };
  if (value === 'fua') return { kind: 'flag', flag: Flag.FUA };
  const { value: every, end } = strtoull(value);
  if (!every || end !== value.length) fail(con, 'Invalid entry number');
  return { kind: 'number', every };
}

/**
 * strncmp(mark, text, data_len + 1) == 0, as upstream compares marks: the text may stop at
 * a NUL before data_len, and only data_len + 1 bytes count. The reader has checked that a
 * mark's data_len leaves room for its terminator, so the bytes compared are in the sector.
 */
function markMatches(header: Uint8Array, dataLen: number, mark: Uint8Array): boolean {
  for (let i = 0; i <= dataLen; i++) {
    const want = i < mark.length ? mark[i]! : 0;
    if (want !== header[HEADER_BYTES + i]) return false;
    if (want === 0) return true;
  }
  return true;
}

/** should_stop(): the entry has one of `flags`; when MARK is among them, it is that mark. */
function shouldStop(c: EntryView, flags: number, mark?: Uint8Array): boolean {
  if (!(c.flags & flags)) return false;
  if (!(flags & Flag.MARK)) return true;
  return (c.flags & Flag.MARK) !== 0 && markMatches(c.header(), c.dataLen, mark!);
}

/** What upstream's super read sees: the log's size, and the version field as its int it prints. */
interface SuperSeen {
  readonly logSize: number;
  readonly version: number;
}

/**
 * Upstream's message for a log problem, followed by where it is: by the problem's kind and,
 * for the super, by which of upstream's checks (read, magic, version) it fails first.
 */
function describeProblem(e: LogFormatError | PastTarget, S: number, seen?: SuperSeen): string {
  if (!(e instanceof LogFormatError)) return `Error writing data: ${e.message}`;
  switch (e.kind) {
    case 'malformed':
      return `Malformed entry @${Math.floor(e.offset / S)}: ${e.message}`;
    case 'truncated-header':
      return `Error reading entry: 0: ${e.message}`;
    case 'truncated-payload':
      return `Error reading data: 0: ${e.message}`;
    case 'super':
      if (seen && seen.logSize < SUPER_BYTES) return `Error reading super: 0: ${e.message}`;
      if (e.offset === SuperField.MAGIC) return `Magic doesn't match: ${e.message}`;
      if (e.offset === SuperField.VERSION) return `Version mismatch, wanted 1, have ${seen?.version}: ${e.message}`;
      return e.message;
  }
}

/** For a log that ends inside a counted entry, what to run (added to the line upstream prints). */
function cutHint(e: LogFormatError | PastTarget, log: string): string {
  const cut = e instanceof LogFormatError && (e.kind === 'truncated-header' || e.kind === 'truncated-payload');
  return cut ? `; the log ends inside a counted entry, as a crashed log can (see: ${recoverHint(log)})` : '';
}

/** A u64 count as a number: counts stay below 2^53, so a larger limit or period simply never comes. */
const countOf = (v: bigint) => (v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v));

/** The flags as -v lines show them; a log uses a handful of combinations, each formatted once. */
const flagTexts = new Map<number, string>();
function flagsText(e: Entry): string {
  if (e.flagsHigh) return `0x${flagsHex(e.flags, e.flagsHigh)}(${flagNames(e.flags, e.flagsHigh)})`;
  let t = flagTexts.get(e.flags);
  if (t === undefined) flagTexts.set(e.flags, (t = `0x${flagsHex(e.flags, 0)}(${flagNames(e.flags, 0)})`));
  return t;
}

/**
 * Walk from `from` with log_seek_next_entry's -vv lines until `stop` says so: the cursor is
 * then on that entry. False when the counted entries ran out first.
 */
function seekNext(
  known: KnownEntries,
  from: Position,
  o: Options,
  con: ReplayLogConsole,
  stop: (c: EntryView, n: number) => boolean,
): EntryView | undefined {
  const S = known.reader.sectorSize;
  const c = known.cursor(from);
  for (let n = 1; ; ) {
    const step = c.advance();
    if (step === Advance.End) return undefined;
    if (step === Advance.Read) {
      c.fill();
      continue;
    }
    if (o.verbose > 1)
      con.out.write(
        `seek entry ${c.index}@${c.payloadOffset / S}: ${c.sector}, size ${c.nrSectors}, flags ${flagsText(c)}\n`,
      );
    if (stop(c, n++)) return c;
  }
}

/** Where to start: after --start-mark, or at --start-entry (log_seek_entry). */
function startPosition(known: KnownEntries, o: Options, con: ReplayLogConsole): Position {
  const reader = known.reader;
  const S = reader.sectorSize;
  if (o.startMark !== undefined) {
    const mark = o.startMark;
    const c = seekNext(known, reader.first, o, con, (e) => shouldStop(e, Flag.MARK, mark));
    if (!c) fail(con, "Couldn't find starting mark");
    return c.position;
  }
  if (o.startEntry >= BigInt(reader.nrEntries)) fail(con, 'Invalid entry number');
  const want = Number(o.startEntry);
  if (want === 0) return reader.first;
  // Without -vv's line per skipped entry, a known entry is a lookup.
  if (o.verbose < 2 && want <= known.count) return known.positionOf(want);
  const c = known.cursor();
  while (c.index + 1 < want) {
    const step = c.advance();
    if (step === Advance.End) break;
    if (step === Advance.Read) c.fill();
    else if (step === Advance.Entry && o.verbose > 1)
      con.out.write(
        `seek entry ${c.index}@${c.offset / S}: ${c.sector}, size ${c.nrSectors}, flags 0x${flagsHex(c.flags, c.flagsHigh)}\n`,
      );
  }
  return c.position;
}

async function findMode(known: KnownEntries, from: Position, o: Options, con: ReplayLogConsole): Promise<number> {
  const reader = known.reader;
  const limit = countOf(o.limit);
  let found: EntryView | undefined;
  try {
    found = seekNext(known, from, o, con, (c, n) => n === limit || shouldStop(c, o.stopFlags, o.endMark));
  } catch (e) {
    if (!(e instanceof LogFormatError)) throw e;
    con.err(describeProblem(e, reader.sectorSize) + cutHint(e, o.logfile!));
    return 255; // upstream returns -1 from main here
  }
  if (!found) {
    // Upstream's line, and on it what a crashed log holds past the count.
    const note = await pastEndNote(reader, o);
    con.err(`Couldn't find entry${note ? `; ${note}` : ''}`);
    return 1;
  }
  con.out.write(`${found.index}@${found.position.offset / reader.sectorSize}\n`);
  return 0;
}

/** What system(3) takes: longer commands go to spawnSync. */
const SYSTEM_MAX = 65535;

/** system(3): `sh -c` sharing our stdout; death by a signal counts as success, as WEXITSTATUS makes it. */
function runFsck(cmd: string): boolean {
  const native = loadNative();
  if (native && Buffer.byteLength(cmd) < SYSTEM_MAX) {
    const status = native.system(cmd);
    // WIFEXITED: the exit code (bits 8-15) decides; killed by a signal: low bits, exit code 0.
    return status !== -1 && (status & 0xff00) === 0;
  }
  const r = childProcess().spawnSync('/bin/sh', ['-c', cmd], { stdio: 'inherit', argv0: 'sh' });
  if (r.error) return false;
  return r.status === null ? true : r.status === 0;
}

/**
 * The -v/-vv lines for each entry replayed or skipped, as upstream prints them, onto `out`.
 * Upstream tries BLKDISCARD first and, with -v, says once when the target refuses it.
 */
function replayLines(o: Options, out: Out, S: number, target: FileTarget): (e: Entry) => void {
  const sectors = { start: o.startSector, end: o.endSector };
  let discardRefused = o.verbose > 0 && !discardSupported(target.info);
  return (e) => {
    const skip = !overlaps(e, sectors);
    if (o.verbose > 1 || (o.verbose && !skip)) {
      out.write(
        `${skip ? 'skipping' : 'replaying'} ${e.index}@${e.payloadOffset / S}: sector ${e.sector}, size ${e.nrSectors * S}, flags ${flagsText(e)}\n`,
      );
    }
    // Upstream attempts every discard, even outside the sector range (which we skip), so
    // the switch is announced where it would be.
    if (discardRefused && e.flags & Flag.DISCARD && e.nrSectors && o.discard) {
      discardRefused = false;
      out.write("replay device doesn't support discard, switching to writing zeros\n");
    }
  };
}

/** Whether the entry is the last to replay: the n-th (--limit), or one --next-* / --end-mark stops at. */
const stopsAt = (o: Options, limit: number) => (e: EntryView, n: number) =>
  n === limit || shouldStop(e, o.stopFlags, o.endMark);

/** What a replay did, for the notes on checks and stops that never fired. */
interface Replayed {
  status: number;
  entries: number;
  checks: number;
  stopped: boolean;
  /** Where the walk would go on, when known. */
  end?: Position;
}

/**
 * Without checks in between, the last-write plan where it leaves the same bytes (see
 * replay-log-plan.ts); the -v lines are held back until the plan is known to hold.
 */
async function replayFast(
  known: KnownEntries,
  target: FileTarget,
  from: Position,
  o: Options,
  con: ReplayLogConsole,
): Promise<Replayed | undefined> {
  const reader = known.reader;
  if (o.fsck !== undefined || o.force || !discardsReadAsZeros(target)) return undefined;
  const lines: string[] = [];
  const before = replayLines(o, { write: (t) => void lines.push(t), flush() {} }, reader.sectorSize, target);
  const sectors = { start: o.startSector, end: o.endSector };
  const r = await replayLogLastWrites(known, target, {
    from,
    discards: o.discard,
    sectors,
    before,
    stop: stopsAt(o, countOf(o.limit)),
    beforeWrite: () => stopIfGone(con),
  });
  if (!r) return undefined;
  for (const t of lines) con.out.write(t);
  return { status: 0, checks: 0, ...r };
}

/** Entry by entry, in upstream's order, with the fsck runs; a number is the exit status of a log problem. */
async function replaySequential(
  reader: LogReader,
  target: FileTarget,
  from: Position,
  o: Options,
  con: ReplayLogConsole,
): Promise<Replayed | number> {
  const S = reader.sectorSize;
  const sectors = { start: o.startSector, end: o.endSector };
  const stop = stopsAt(o, countOf(o.limit));
  const check: { every: number } | { flag: number } | undefined =
    o.check && (o.check.kind === 'number' ? { every: countOf(o.check.every) } : { flag: o.check.flag });
  const done: Replayed = { status: 0, entries: 0, checks: 0, stopped: false };
  try {
    const r = await replay(reader, target, {
      from,
      discards: o.discard,
      sectors,
      before: replayLines(o, con.out, S, target),
      visit: (e, _applied, settle) => {
        stopIfGone(con);
        const n = ++done.entries;
        const last = stop(e, n);
        done.stopped ||= last;
        const due =
          o.fsck !== undefined && check && ('every' in check ? n % check.every === 0 : (e.flags & check.flag) !== 0);
        if (!due) return last ? 'stop' : 'next';
        const index = e.index;
        done.checks++;
        return settle().then(() => {
          if (runFsck(o.fsck!)) return last ? 'stop' : 'next';
          con.err(`Fsck errored out on entry ${index}`);
          done.status = 1;
          return 'stop';
        });
      },
    });
    done.end = r.last ? { index: r.last.index + 1, offset: r.last.payloadOffset + r.last.payloadLength } : from;
  } catch (e) {
    if (!(e instanceof ReplayError)) throw e;
    con.err(`${describeProblem(e.cause, S)} (${e.progress})${cutHint(e.cause, o.logfile!)}`);
    return 1;
  }
  return done;
}

async function replayMode(
  known: KnownEntries,
  target: FileTarget,
  from: Position,
  o: Options,
  con: ReplayLogConsole,
): Promise<number> {
  const reader = known.reader;
  const r = (await replayFast(known, target, from, o, con)) ?? (await replaySequential(reader, target, from, o, con));
  if (typeof r === 'number') return r;
  if (r.status !== 0) return r.status;
  // Upstream passes silently here; its stdout and status stay as they are, and stderr gets one line.
  // Only a replay that ran through every counted entry can have missed entries past the count
  // (a --limit call of xfstests' loop ends early: walking the rest of the log would cost it more
  // than its own replay).
  const reachedEnd = !r.stopped && (r.end === undefined || r.end.index >= reader.nrEntries);
  const notes = [
    ...vacuous(o, r.checks, r.stopped, r.entries),
    ...(reachedEnd ? [await pastEndNote(reader, o, r.end)] : []),
  ].filter(Boolean);
  if (notes.length) con.err(`replay-log: ${notes.join('; ')}`);
  return 0;
}

/** After a walk to the end of the counted entries (at `end`, when known): what valid ones follow (a crashed log), if any. */
async function pastEndNote(reader: LogReader, o: Options, end?: Position): Promise<string | undefined> {
  const signs = end ? await pastEndSigns(reader, end) : await crashSigns(reader);
  return signs && !signs.cutAt ? crashNote(o.logfile!, signs) : undefined;
}

/** Checks that never ran and stop conditions that never fired, in a replay of `replayed` entries. */
function vacuous(o: Options, checks: number, stopped: boolean, replayed: number): string[] {
  const notes: string[] = [];
  const what = (flags: number) => holdsNo(flags, `the ${replayed} replayed entries`).replace(' holds ', ' hold ');
  if (o.fsck !== undefined && o.check && !checks) {
    const arg = o.check.kind === 'number' ? String(o.check.every) : flagNames(o.check.flag).toLowerCase();
    notes.push(
      `--check ${arg} ran the fsck command 0 times: ${o.check.kind === 'number' ? `only ${replayed} entries were replayed` : what(o.check.flag)}`,
    );
  }
  if (!stopped && o.stopFlags) {
    const options = [o.stopFlags & Flag.FLUSH && '--next-flush', o.stopFlags & Flag.FUA && '--next-fua']
      .filter(Boolean)
      .join(' ');
    const stop =
      o.endMark !== undefined
        ? `--end-mark ${Buffer.from(o.endMark).toString('utf8')} never fired: the ${replayed} replayed entries hold no such mark`
        : `${options} never fired: ${what(o.stopFlags)}`;
    notes.push(`${stop}, so the replay went to the end of the log`);
  }
  return notes;
}

const errno = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).errno;
  return code === undefined ? String(e) : String(-code);
};

/** Open the log and read its super, with upstream's messages for each way that fails. */
async function readSuper(source: FileSource, con: ReplayLogConsole): Promise<LogReader> {
  try {
    return await LogReader.open(source);
  } catch (e) {
    if (!(e instanceof LogFormatError)) fail(con, `Error reading super: ${errno(e)}: ${(e as Error).message}`);
    const head = source.read(0, SuperField.VERSION + 8) as Uint8Array;
    const version =
      head.length >= SuperField.VERSION + 8
        ? new DataView(head.buffer, head.byteOffset, head.length).getInt32(SuperField.VERSION, true)
        : 0;
    fail(con, describeProblem(e, 512, { logSize: source.size, version }));
  }
}

export async function replayLogMain(
  args: readonly string[],
  con: ReplayLogConsole = processConsole(),
): Promise<number> {
  let source: FileSource | undefined;
  let target: FileTarget | undefined;
  let cache: IndexCache | undefined;
  try {
    const o = parseArgs(args, con);
    const logfile = o.logfile!;
    try {
      source = openSource(logfile);
    } catch (e) {
      return fail(con, `Couldn't open log ${logfile}: ${errno(e)}`);
    }
    if (o.replayfile !== undefined) {
      // Judged before the target is opened for writing (upstream opens it first thing); find
      // and count modes open it too but never write.
      const writes = !o.find && !o.numEntries;
      const hazard =
        o.force || !writes
          ? undefined
          : writeHazard({ path: o.replayfile, keep: [{ name: 'the log', info: source.info }] });
      if (hazard) fail(con, `Refusing to replay: ${hazard} (use --force to do it anyway)`);
      // A check settles every few entries, which drains the O_DIRECT writes in flight each time:
      // the page cache costs less there (ext4-fsync-many's 812 checks: ~45 ms less of ~300 ms
      // outside the checker, medians of 12), its pages stay cached between checks.
      const direct = o.fsck === undefined;
      try {
        target = openTarget(o.replayfile, { grow: o.force, writeBehind: true, discard: 'unmap', direct });
      } catch (e) {
        return fail(con, `Couldn't open replay file ${o.replayfile}: ${errno(e)}`);
      }
    }
    const reader = await readSuper(source, con);
    // Only walks need the entry index; counting and the log's line read the super alone.
    const walks = o.find || (target !== undefined && !o.numEntries);
    cache = walks ? openIndexCache(reader, source) : noIndexCache(reader);
    const known = cache.known;
    let from: Position;
    try {
      from = startPosition(known, o, con);
    } catch (e) {
      if (!(e instanceof LogFormatError)) throw e;
      return fail(con, describeProblem(e, reader.sectorSize) + cutHint(e, logfile));
    }
    if ((o.fsck === undefined) !== (o.check === undefined)) fail(con, USAGE);
    if (o.find) return await findMode(known, from, o, con);
    if (o.numEntries) {
      con.out.write(`${reader.nrEntries}\n`);
      return 0;
    }
    if (!target) {
      con.out.write(`Log version=1, sectorsize=${reader.sectorSize}, entries=${reader.nrEntries}\n`);
      return 0;
    }
    return await replayMode(known, target, from, o, con);
  } catch (e) {
    if (e instanceof Exit) return e.status;
    // Nobody is left to tell.
    if (e instanceof Cancelled) return 1;
    const err = e as NodeJS.ErrnoException;
    if (err.syscall === 'write' || err.syscall === 'writev') con.err(`Error writing data: ${errno(e)}: ${err.message}`);
    else if (err.syscall === 'read') con.err(`Error reading data: ${errno(e)}: ${err.message}`);
    else con.err(`replay-log: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    cache?.save();
    target?.close();
    source?.close();
    con.out.flush();
  }
}
