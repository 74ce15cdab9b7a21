// What every `logwrites` command shares: opening logs and naming points in a log
// (the exit statuses are exit.ts's, stdout is output.ts's).

import * as fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { flagNames } from '../format.ts';
import { LogReader, type Entry } from '../reader.ts';
import { parsePointText, type Point } from '../range.ts';
import { crashNote, crashSigns, validPrefix, type CrashSigns } from '../recover.ts';
import { openSource, type FileSource } from '../node/io/file.ts';
import { CliError, LogFormatError } from '../errors.ts';
import { failure } from './exit.ts';

export interface OpenLog {
  readonly reader: LogReader;
  readonly source: FileSource;
  readonly path: string;
  /** What a crash left, when it left something (the reader then reads a cut log's valid prefix). */
  readonly crash?: CrashSigns;
}

export async function openLog(path: string): Promise<OpenLog> {
  let source: FileSource;
  try {
    source = openSource(path);
  } catch (e) {
    throw new CliError(`cannot open log ${path}: ${(e as Error).message}`);
  }
  if (fs.fstatSync(source.fd).isDirectory()) {
    source.close();
    throw new CliError(`cannot open log ${path}: it is a directory`);
  }
  try {
    return { reader: await LogReader.open(source), source, path };
  } catch (e) {
    source.close();
    throw e;
  }
}

/**
 * Run `fn` on an opened log and close it whatever happens. A crashed log is said so in one
 * line (see crashNote) unless `crashNote` is false; a cut one is read as its valid prefix.
 * `readsPastEnd`: the command shows entries past nr_entries itself, so they need no note.
 * `walksFirst`: the command walks its range before it writes or prints anything (replay), so
 * the crash walk is not run ahead of it: a cut log shows as its walk's truncation, and it runs
 * again on the valid prefix; entries past the count are looked for from where its walk found
 * the counted ones end (bench/raw: a second walk of 266k entries cost `replay` 0.25 s).
 */
export async function withLog<T>(
  path: string,
  fn: (log: OpenLog) => Promise<T>,
  opts: { crashNote?: boolean; readsPastEnd?: boolean; walksFirst?: boolean } = {},
): Promise<T> {
  const log = await openLog(path);
  try {
    if (opts.crashNote === false) return await fn(log);
    if (opts.walksFirst) {
      let value: T;
      try {
        value = await fn(log);
      } catch (e) {
        const signs = cutShort(e) ? await crashSigns(log.reader) : undefined;
        if (!signs?.cutAt) throw e;
        return await onValidPrefix(log, fn, signs);
      }
      return noted(path, await crashSigns(log.reader), !!opts.readsPastEnd, value);
    }
    const signs = await crashSigns(log.reader);
    if (!signs || (opts.readsPastEnd && !signs.cutAt)) return await fn(log);
    return await onValidPrefix(log, fn, signs);
  } finally {
    log.source.close();
  }
}

/** `fn` on a crashed log, read as its valid prefix when cut, with the crash note after it (or in its failure). */
async function onValidPrefix<T>(log: OpenLog, fn: (log: OpenLog) => Promise<T>, signs: CrashSigns): Promise<T> {
  const reader = signs.cutAt ? await LogReader.open(validPrefix(log.source, signs)) : log.reader;
  let value: T;
  try {
    value = await fn({ ...log, reader, crash: signs });
  } catch (e) {
    const { message, status } = failure(e);
    throw new CliError(`${message}; note: ${crashNote(log.path, signs)}`, status);
  }
  return noted(log.path, signs, false, value);
}

/** A walk that found the log ending inside an entry. */
const cutShort = (e: unknown) =>
  e instanceof LogFormatError && (e.kind === 'truncated-header' || e.kind === 'truncated-payload');

/** `value`, once the crash note (if any: none for entries past the count the command showed itself) is out. */
function noted<T>(path: string, signs: CrashSigns | undefined, readsPastEnd: boolean, value: T): T {
  if (signs && !(readsPastEnd && !signs.cutAt)) process.stderr.write(`logwrites: note: ${crashNote(path, signs)}\n`);
  return value;
}

/** What a point may be, for --help and errors. */
export const POINT_HELP = 'an entry number, mark:NAME (mark:NAME#2: its second occurrence) or end';

export function parsePoint(text: string): Point {
  const p = parsePointText(text);
  if (!p) throw new InvalidArgumentError(`'${text}' is not a point: ${POINT_HELP}`);
  return p;
}

export function parseCount(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError(`'${text}' is not a whole number`);
  return Number(text);
}

/** `A..B` (inclusive; `A-B` too) or a single sector `A`. */
export function parseSectorRange(text: string): { start: number; end: number } {
  const m = /^(\d+)(?:(?:\.\.|-)(\d+))?$/.exec(text);
  if (!m) throw new InvalidArgumentError(`'${text}' is not a sector range A..B`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (end < start) throw new InvalidArgumentError(`sector range ${text} ends before it starts`);
  return { start, end };
}

export function entryJson(e: Entry) {
  return {
    index: e.index,
    offset: e.offset,
    sector: e.sector,
    nrSectors: e.nrSectors,
    flags: flagNames(e.flags, e.flagsHigh),
    dataLen: e.dataLen,
    payloadOffset: e.payloadOffset,
    payloadLength: e.payloadLength,
    ...(e.mark === undefined ? {} : { mark: e.mark }),
  };
}
