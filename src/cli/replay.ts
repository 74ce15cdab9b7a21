// `logwrites replay`: a range of a log onto an image or device, by the fastest plan that
// gives the same result, with checks at chosen points and a summary of what happened.

import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Command } from 'commander';
import { parseFlags } from '../format.ts';
import { replayLastWrites } from '../replay/last-write.ts';
import { holdsNo, scanRange, type RangeSpec, type ScannedRange } from '../range.ts';
import type { Entry, LogReader } from '../reader.ts';
import { replay, type Step } from '../replay/loop.ts';
import { runCheck } from '../node/io/checker.ts';
import { describePath } from '../node/io/file.ts';
import { openTarget, type FileTarget } from '../node/io/target.ts';
import { guardWrite } from '../node/guard/write-guard.ts';
import { EXIT_CHECK, parseCount, parsePoint, POINT_HELP, parseSectorRange, stdout, withLog } from './common.ts';
import { ProgressBar } from './progress-bar.ts';
import { CliError, PastTarget } from '../errors.ts';

/** When to run the checker: after entries with these flags, or every N entries. */
export type CheckAt = { flags: number } | { every: number };

export function parseCheckAt(text: string): CheckAt {
  if (/^\d+$/.test(text) && Number(text) > 0) return { every: Number(text) };
  return { flags: parseFlags(text.replace(/^marks?$/i, 'MARK')) };
}

const due = (c: CheckAt, e: Entry, n: number) => ('every' in c ? n % c.every === 0 : (e.flags & c.flags) !== 0);

export interface CheckFailure {
  entry: number;
  status: number | null;
  output: string;
}

interface ReplayCliOptions {
  from?: RangeSpec['from'];
  to?: RangeSpec['to'];
  limit?: number;
  until?: string;
  sectors?: RangeSpec['sectors'];
  discard: 'zero' | 'unmap' | 'skip';
  plan?: 'last-write' | 'sequential';
  check?: CheckAt;
  exec?: string;
  keepGoing?: boolean;
  force?: boolean;
  json?: boolean;
  progress?: boolean;
}

export interface ReplaySummary {
  plan: 'last-write' | 'sequential';
  firstEntry: number | null;
  lastEntry: number | null;
  entries: number;
  bytesWritten: number;
  bytesZeroed: number;
  seconds: number;
  interrupted: boolean;
  /** The signal that interrupted the replay, if one did. */
  signal: NodeJS.Signals | null;
  checks: number;
  failures: CheckFailure[];
  /** A check or stop condition that never fired, said so instead of passing silently. */
  notes: string[];
}

/**
 * Whether to stop, asked between entries: the replay's I/O is synchronous, so without a turn
 * of the event loop now and then a SIGINT handler would never run.
 */
function stopper(flag: () => boolean): () => Promise<boolean> {
  let turn = performance.now();
  return async () => {
    if (performance.now() - turn > 20) {
      await new Promise((resolve) => setImmediate(resolve));
      turn = performance.now();
    }
    return flag();
  };
}

async function sequential(reader: LogReader, target: FileTarget, targetPath: string, range: ScannedRange, o: ReplayCliOptions, progress: ProgressBar, stop: () => Promise<boolean>, summary: ReplaySummary) {
  const lastIndex = range.last!.index;
  let n = 0;
  const r = await replay(reader, target, {
    from: range.start,
    discards: o.discard !== 'skip',
    ...(o.sectors ? { sectors: o.sectors } : {}),
    visit: async (e, _applied, settle): Promise<Step> => {
      n++;
      progress.update(n, e.payloadOffset - range.start.offset);
      if (o.check && o.exec !== undefined && due(o.check, e, n)) {
        await settle();
        summary.checks++;
        const r = await runCheck(o.exec, targetPath, { env: { LOGWRITES_ENTRY: String(e.index) } });
        if (r.status !== 0) {
          summary.failures.push({ entry: e.index, status: r.status, output: r.output });
          if (!o.keepGoing) return 'stop';
        }
      }
      if (e.index === lastIndex) return 'stop';
      if (await stop()) {
        summary.interrupted = true;
        return 'stop';
      }
      return 'next';
    },
  });
  summary.entries = r.entries;
  summary.lastEntry = r.last?.index ?? null;
  summary.bytesWritten = r.bytesWritten;
  summary.bytesZeroed = r.bytesZeroed;
}

export async function replayCommand(logPath: string, targetPath: string, o: ReplayCliOptions): Promise<ReplaySummary> {
  if ((o.check === undefined) !== (o.exec === undefined)) throw new CliError('--check and --exec go together');
  const plan = o.plan ?? (o.check ? 'sequential' : 'last-write');
  if (plan === 'last-write' && o.check) throw new CliError('--plan last-write cannot run checks between entries; use --plan sequential');
  return withLog(logPath, async ({ reader, source }) => {
    const spec: RangeSpec = {
      ...(o.from ? { from: o.from } : {}),
      ...(o.to ? { to: o.to } : {}),
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
      ...(o.until ? { until: parseFlags(o.until) } : {}),
      ...(o.sectors ? { sectors: o.sectors } : {}),
      discards: o.discard !== 'skip',
    };
    const info = describePath(targetPath);
    if (!info) throw new CliError(`cannot open target ${targetPath}: it does not exist (replay writes onto an existing image or device)`);
    if (fs.statSync(targetPath).isDirectory()) throw new CliError(`cannot open target ${targetPath}: it is a directory`);
    let range: ScannedRange;
    try {
      // The target's size bounds the scan, so a forged entry is refused before it costs memory.
      spec.target = { sectors: Math.floor(info.size / reader.sectorSize), force: !!o.force };
      range = await scanRange(reader, spec, plan === 'last-write');
    } catch (e) {
      if (e instanceof PastTarget) throw new CliError(`refusing to replay: ${e.message} (--force to do it anyway)`);
      throw e;
    }
    // Judged before the target is opened for writing.
    const writeEnd = (range.highestSector + 1) * reader.sectorSize;
    guardWrite('replay', { path: targetPath, keep: [{ name: 'the log', info: source.info }], writeEnd }, !!o.force);
    let target: FileTarget;
    try {
      target = openTarget(targetPath, { grow: !!o.force, discard: o.discard === 'unmap' ? 'unmap' : 'zero' });
    } catch (e) {
      throw new CliError(`cannot open target ${targetPath}: ${(e as Error).message}`);
    }
    const summary: ReplaySummary = {
      plan,
      firstEntry: range.last ? range.start.index : null,
      lastEntry: null,
      entries: 0,
      bytesWritten: 0,
      bytesZeroed: 0,
      seconds: 0,
      interrupted: false,
      signal: null,
      checks: 0,
      failures: [],
      notes: [],
    };
    if (spec.until && range.last && !(range.last.flags & spec.until)) {
      summary.notes.push(`--until ${o.until} never fired: ${holdsNo(spec.until)}, so it ends at entry ${range.last.index}`);
    }
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => void (interrupted = sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const started = performance.now();
    const progress = new ProgressBar(o.progress ?? process.stderr.isTTY, range.entries, range.payloadBytes);
    const stop = stopper(() => interrupted !== undefined);
    try {
      if (!range.last) return summary;
      if (plan === 'sequential') await sequential(reader, target, targetPath, range, o, progress, stop, summary);
      else {
        const r = await replayLastWrites(reader, target, range.map!, stop);
        summary.interrupted = !r.complete;
        summary.entries = r.complete ? range.entries : 0;
        summary.lastEntry = r.complete ? range.last.index : null;
        summary.bytesWritten = r.bytesWritten;
        summary.bytesZeroed = r.bytesZeroed;
      }
    } finally {
      progress.done();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      target.sync();
      target.close();
      summary.seconds = (performance.now() - started) / 1000;
      summary.signal = interrupted ?? null;
    }
    if (o.check && !summary.checks && !summary.interrupted) {
      const why = 'every' in o.check ? `the range holds fewer than ${o.check.every} entries` : holdsNo(o.check.flags);
      summary.notes.push(`checks: 0 run (${why})`);
    }
    return summary;
  });
}

function printSummary(s: ReplaySummary): void {
  const mib = (s.bytesWritten + s.bytesZeroed) / 1048576;
  if (s.firstEntry === null) {
    stdout.line('nothing to replay: the range is empty');
    return;
  }
  const where = s.lastEntry === null ? 'stopped before finishing (the target holds a partial last-write plan)' : `entries ${s.firstEntry}..${s.lastEntry}`;
  stdout.line(`replayed ${where} (${s.entries} entries, plan ${s.plan}): ${(s.bytesWritten / 1048576).toFixed(1)} MiB written, ${(s.bytesZeroed / 1048576).toFixed(1)} MiB zeroed in ${s.seconds.toFixed(2)} s (${(mib / Math.max(s.seconds, 1e-6)).toFixed(0)} MiB/s)`);
  if (s.interrupted) stdout.line(`interrupted: the target is synced and holds the log up to entry ${s.lastEntry ?? '(partial)'}`);
  if (s.checks) stdout.line(`checks: ${s.checks} run, ${s.failures.length} failed${s.failures.length ? ` (first at entry ${s.failures[0]!.entry})` : ''}`);
  for (const note of s.notes) stdout.line(note);
  for (const f of s.failures) stdout.line(`check failed at entry ${f.entry} (exit ${f.status}):\n${f.output.trimEnd().replace(/^/gm, '  ')}`);
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('replay a range of a log onto an image file or block device')
    .argument('<log>', 'log file or device')
    .argument('<target>', 'image file or block device to write (must exist)')
    .option('--from <point>', `first entry, inclusive (default: the first): ${POINT_HELP}`, parsePoint)
    .option('--to <point>', `last entry, inclusive (default: end): ${POINT_HELP}`, parsePoint)
    .option('--limit <n>', 'at most n entries', parseCount)
    .option('--until <flags>', 'end at the first entry with one of these flags, e.g. fua or flush')
    .option('--sectors <A..B>', 'only entries touching device sectors A to B, inclusive (log sector units)', parseSectorRange)
    .option('--discard <mode>', 'zero: discarded sectors read back as zeros (BLKZEROOUT, a hole in a file); unmap: the device\'s own discard (BLKDISCARD, may not zero); skip: ignore discards', 'zero')
    .option('--plan <plan>', 'last-write: only the final version of each sector (default without checks); sequential: entry by entry')
    .option('--check <when>', 'run the checker after entries with these flags (fua, flush, mark) or every N entries', parseCheckAt)
    .option('--exec <cmd>', 'checker command, run by /bin/sh with $LOGWRITES_TARGET and $LOGWRITES_ENTRY; exit 0 = consistent')
    .option('--keep-going', 'go on after a failed check and report them all')
    .option('--force', 'replay onto a mounted device, the log itself, or a target too small')
    .option('--json', 'the summary as JSON')
    .addHelpText('after', `
Exit status: 0 replayed (and every check passed), 1 bad input or usage, 2 a check failed,
130/143 stopped by SIGINT/SIGTERM (the target is synced and the summary says where).

Examples:
  $ logwrites replay log.img disk.img --to mark:fsync
  $ logwrites replay log.img disk.img --from mark:mkfs --check fua --exec 'e2fsck -fn $LOGWRITES_TARGET'`)
    .action(async (log: string, target: string, o: ReplayCliOptions) => {
      if (!['zero', 'unmap', 'skip'].includes(o.discard)) throw new CliError(`--discard must be zero, unmap or skip, not '${o.discard}'`);
      if (o.plan !== undefined && o.plan !== 'last-write' && o.plan !== 'sequential') throw new CliError(`--plan must be last-write or sequential, not '${o.plan}'`);
      const s = await replayCommand(log, target, o);
      if (o.json) stdout.json(s);
      else printSummary(s);
      if (s.failures.length) process.exitCode = EXIT_CHECK;
      else if (s.signal) process.exitCode = 128 + os.constants.signals[s.signal];
    });
}
