// `replay-log`: a drop-in for xfstests' src/log-writes/replay-log. Same options, same number
// parsing, same stdout byte for byte, same exit statuses; stderr keeps upstream's wording and
// adds where the problem is. Deliberate differences are listed in the README.

import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Flag, flagNames, flagsHex, LogFormatError } from '../format.ts';
import { LogReader, type Entry, type Position } from '../reader.ts';
import { overlaps, replay, ReplayError } from '../replay.ts';
import { CStdout, getoptLong, strtoull, u64Number, type LongOption, type Out } from './cstyle.ts';
import { openSource, type FileSource } from './file.ts';
import { openTarget, replayHazard, type FileTarget } from './target.ts';

const LONG_OPTIONS: LongOption[] = [
  { name: 'next-flush', arg: 'none' },
  { name: 'next-fua', arg: 'none' },
  { name: 'start-entry', arg: 'required' },
  { name: 'end-mark', arg: 'required' },
  { name: 'log', arg: 'required' },
  { name: 'replay', arg: 'required' },
  { name: 'limit', arg: 'required' },
  { name: 'verbose', arg: 'none' },
  { name: 'find', arg: 'none' },
  { name: 'num-entries', arg: 'none' },
  { name: 'no-discard', arg: 'none' },
  { name: 'fsck', arg: 'required' },
  { name: 'check', arg: 'required' },
  { name: 'start-mark', arg: 'required' },
  { name: 'start-sector', arg: 'required' },
  { name: 'end-sector', arg: 'required' },
  // Ours: allow replaying onto a mounted device or the log itself.
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
\t--force - replay even onto a mounted device or the log itself (not in upstream)
`;

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
  startMark?: string;
  endMark?: string;
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

export interface Io {
  out: Out;
  err: (line: string) => void;
  prog: string;
}

export function defaultIo(): Io {
  return { out: new CStdout(1), err: (line) => fs.writeSync(2, line + '\n'), prog: 'replay-log' };
}

function parseArgs(args: readonly string[], io: Io): Options {
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
  const usage = (): never => {
    io.err(USAGE.trimEnd());
    throw new Exit(1);
  };
  const number = (v: string, what: string): bigint => {
    const { value, end } = strtoull(v);
    if (end !== v.length) {
      io.err(`Invalid ${what} number`);
      throw new Exit(1);
    }
    return value;
  };
  for (const p of getoptLong(args, 'v', LONG_OPTIONS, io.prog, io.err)) {
    const value = 'value' in p ? (p.value ?? '') : '';
    switch (p.name) {
      case 'v':
      case 'verbose': o.verbose++; break;
      case 'next-flush': o.stopFlags |= Flag.FLUSH; break;
      case 'next-fua': o.stopFlags |= Flag.FUA; break;
      case 'start-entry': o.startEntry = number(value, 'entry'); break;
      case 'start-mark': o.startMark = value.slice(0, MARK_ARG_MAX); break;
      case 'end-mark':
        o.endMark = value.slice(0, MARK_ARG_MAX);
        o.stopFlags |= Flag.MARK;
        break;
      case 'log': o.logfile = value; break;
      case 'replay': o.replayfile = value; break;
      case 'limit': o.limit = number(value, 'entry'); break;
      case 'find': o.find = true; break;
      case 'num-entries': o.numEntries = true; break;
      case 'no-discard': o.discard = false; break;
      case 'fsck': o.fsck = value; break;
      case 'check':
        if (value === 'flush') o.check = { kind: 'flag', flag: Flag.FLUSH };
        else if (value === 'fua') o.check = { kind: 'flag', flag: Flag.FUA };
        else {
          const { value: every, end } = strtoull(value);
          if (!every || end !== value.length) {
            io.err('Invalid entry number');
            throw new Exit(1);
          }
          o.check = { kind: 'number', every };
        }
        break;
      case 'start-sector': o.startSector = u64Number(number(value, 'sector')); break;
      case 'end-sector': o.endSector = u64Number(number(value, 'sector')); break;
      case 'force': o.force = true; break;
      default: usage();
    }
  }
  if (!o.logfile) usage();
  return o;
}

/** should_stop(): the entry has one of `flags`; when MARK is among them, it is that mark. */
function shouldStop(e: Entry, flags: number, mark?: string): boolean {
  if (!(e.flags & flags)) return false;
  if (!(flags & Flag.MARK)) return true;
  return (e.flags & Flag.MARK) !== 0 && e.mark === mark;
}

/** Upstream's message for a log problem, followed by where it is. */
function describeProblem(e: LogFormatError, S: number): string {
  switch (e.kind) {
    case 'malformed': return `Malformed entry @${e.offset / S}: ${e.message}`;
    case 'truncated-header': return `Error reading entry: 0: ${e.message}`;
    case 'truncated-payload': return `Error reading data: 0: ${e.message}`;
    case 'super':
      if (e.reason.startsWith('bad magic')) return `Magic doesn't match: ${e.message}`;
      if (e.reason.startsWith('unsupported version')) return `Version mismatch, wanted 1: ${e.message}`;
      if (e.reason.startsWith('truncated')) return `Error reading super: 0: ${e.message}`;
      return e.message;
  }
}

const after = (e: Entry): Position => ({ index: e.index + 1, offset: e.payloadOffset + e.payloadLength });
const flagsText = (e: Entry) => `0x${flagsHex(e.flags, e.flagsHigh)}(${flagNames(e.flags, e.flagsHigh)})`;

/** Walk from `from`, printing -vv seek lines, until `stop` says so; returns the entry it stopped at. */
async function seekNext(reader: LogReader, from: Position, o: Options, io: Io, stop: (e: Entry, n: number) => boolean): Promise<Entry | undefined> {
  const S = reader.sectorSize;
  let n = 0;
  for await (const e of reader.entries({ from })) {
    if (o.verbose > 1) io.out.write(`seek entry ${e.index}@${e.payloadOffset / S}: ${e.sector}, size ${e.nrSectors}, flags ${flagsText(e)}\n`);
    if (stop(e, ++n)) return e;
  }
  return undefined;
}

/** Where to start: after --start-mark, or at --start-entry. */
async function startPosition(reader: LogReader, o: Options, io: Io): Promise<Position> {
  const S = reader.sectorSize;
  if (o.startMark !== undefined) {
    const mark = await seekNext(reader, reader.first, o, io, (e) => shouldStop(e, Flag.MARK, o.startMark));
    if (!mark) {
      io.err("Couldn't find starting mark");
      throw new Exit(1);
    }
    return after(mark);
  }
  if (o.startEntry >= BigInt(reader.nrEntries)) {
    io.err('Invalid entry number');
    throw new Exit(1);
  }
  let pos = reader.first;
  const want = Number(o.startEntry);
  if (want === 0) return pos;
  for await (const e of reader.entries()) {
    if (o.verbose > 1) io.out.write(`seek entry ${e.index}@${e.offset / S}: ${e.sector}, size ${e.nrSectors}, flags 0x${flagsHex(e.flags, e.flagsHigh)}\n`);
    pos = after(e);
    if (e.index + 1 === want) break;
  }
  return pos;
}

async function findMode(reader: LogReader, from: Position, o: Options, io: Io): Promise<number> {
  const limit = o.limit;
  let found: Entry | undefined;
  try {
    found = await seekNext(reader, from, o, io, (e, n) => (limit !== 0n && BigInt(n) === limit) || shouldStop(e, o.stopFlags, o.endMark));
  } catch (e) {
    if (!(e instanceof LogFormatError)) throw e;
    io.err(describeProblem(e, reader.sectorSize));
    return 255; // upstream returns -1 from main here
  }
  if (!found) {
    io.err("Couldn't find entry");
    return 1;
  }
  io.out.write(`${found.index}@${after(found).offset / reader.sectorSize}\n`);
  return 0;
}

/** system(3): run through the shell, sharing our stdout; death by a signal counts as success. */
function runFsck(cmd: string): boolean {
  const r = spawnSync('/bin/sh', ['-c', cmd], { stdio: 'inherit' });
  return r.status === null ? true : r.status === 0;
}

async function replayMode(reader: LogReader, target: FileTarget, from: Position, o: Options, io: Io): Promise<number> {
  const S = reader.sectorSize;
  const sectors = { start: o.startSector, end: o.endSector };
  const announceZeroing = !target.info.isBlockDevice;
  let announced = false;
  let n = 0n;
  let status = 0;
  try {
    await replay(reader, target, {
      from,
      discards: o.discard,
      sectors,
      visit: async (e, applied, settle) => {
        n++;
        const skip = !overlaps(e, sectors);
        if (o.verbose > 1 || (o.verbose && !skip)) {
          io.out.write(`${skip ? 'skipping' : 'replaying'} ${e.index}@${e.payloadOffset / S}: sector ${e.sector}, size ${e.nrSectors * S}, flags ${flagsText(e)}\n`);
        }
        if (applied && e.flags & Flag.DISCARD && announceZeroing && !announced) {
          // Upstream tries BLKDISCARD first and says so when a file refuses it.
          announced = true;
          if (o.verbose) io.out.write("replay device doesn't support discard, switching to writing zeros\n");
        }
        const check = o.check;
        const due = check && (check.kind === 'number' ? n % check.every === 0n : (e.flags & check.flag) !== 0);
        if (due && o.fsck !== undefined) {
          await settle();
          if (!runFsck(o.fsck)) {
            io.err(`Fsck errored out on entry ${e.index}`);
            status = 1;
            return 'stop';
          }
        }
        return (o.limit !== 0n && n === o.limit) || shouldStop(e, o.stopFlags, o.endMark) ? 'stop' : 'next';
      },
    });
  } catch (e) {
    if (!(e instanceof ReplayError)) throw e;
    io.err(`${describeProblem(e.cause, S)} (${e.progress})`);
    return 1;
  }
  return status;
}

export async function replayLogMain(args: readonly string[], io: Io = defaultIo()): Promise<number> {
  let source: FileSource | undefined;
  let target: FileTarget | undefined;
  let sectorSize = 512;
  try {
    const o = parseArgs(args, io);
    const logfile = o.logfile!;
    try {
      source = openSource(logfile);
    } catch (e) {
      io.err(`Couldn't open log ${logfile}: ${errno(e)}`);
      return 1;
    }
    if (o.replayfile !== undefined) {
      try {
        target = openTarget(o.replayfile);
      } catch (e) {
        io.err(`Couldn't open replay file ${o.replayfile}: ${errno(e)}`);
        return 1;
      }
    }
    const reader = await LogReader.open(source);
    sectorSize = reader.sectorSize;
    if (target && !o.force) {
      const hazard = replayHazard(o.replayfile!, target.info, source.info);
      if (hazard) {
        io.err(`Refusing to replay: ${hazard} (use --force to do it anyway)`);
        return 1;
      }
    }
    const from = await startPosition(reader, o, io);
    if ((o.fsck === undefined) !== (o.check === undefined)) {
      io.err(USAGE.trimEnd());
      return 1;
    }
    if (o.find) return await findMode(reader, from, o, io);
    if (o.numEntries) {
      io.out.write(`${reader.nrEntries}\n`);
      return 0;
    }
    if (!target) {
      io.out.write(`Log version=1, sectorsize=${reader.sectorSize}, entries=${reader.nrEntries}\n`);
      return 0;
    }
    return await replayMode(reader, target, from, o, io);
  } catch (e) {
    if (e instanceof Exit) return e.status;
    if (e instanceof LogFormatError) {
      io.err(describeProblem(e, sectorSize));
      return 1;
    }
    io.err(`replay-log: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    target?.close();
    source?.close();
    io.out.flush();
  }
}

function errno(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).errno;
  return code === undefined ? String(e) : String(-code);
}
