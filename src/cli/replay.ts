// `logwrites replay`: a range of a log onto an image or device, by the fastest plan that
// gives the same result, with checks at chosen points and a summary of what happened.

import type { Command } from 'commander';
import { parseFlags } from '../format.ts';
import { signalStatus } from '../node/io/signals.ts';
import { replayOnto, replayPlan, type CheckAt, type ReplayOptions, type ReplaySummary } from '../node/replay/run.ts';
import { EXIT_CHECK } from './exit.ts';
import { parseCount, parsePoint, POINT_HELP, parseSectorRange, withLog } from './common.ts';
import { stdout } from './output.ts';
import { ProgressBar } from './progress-bar.ts';
import { CliError } from '../errors.ts';

/** When to run the checker, from --check: after entries with these flags, or every N entries. */
export function parseCheckAt(text: string): CheckAt {
  if (/^\d+$/.test(text) && Number(text) > 0) return { every: Number(text) };
  return { flags: parseFlags(text.replace(/^marks?$/i, 'MARK')) };
}

type ReplayCliOptions = Omit<ReplayOptions, 'progress' | 'stopOnSignals'> & { json?: boolean; progress?: boolean };

/** `logwrites replay` without the printing: the log opened as every command opens it, then replayOnto. */
export async function replayCommand(logPath: string, targetPath: string, o: ReplayCliOptions): Promise<ReplaySummary> {
  replayPlan(o);
  const progress = (entries: number, bytes: number) =>
    new ProgressBar(o.progress ?? process.stderr.isTTY, entries, bytes);
  return withLog(
    logPath,
    ({ reader, source }) => replayOnto(reader, source, targetPath, { ...o, stopOnSignals: true, progress }),
    { walksFirst: true },
  );
}

function printSummary(s: ReplaySummary): void {
  const mib = (s.bytesWritten + s.bytesZeroed) / 1048576;
  if (s.firstEntry === null) {
    stdout.line('nothing to replay: the range is empty');
    return;
  }
  const where =
    s.lastEntry === null
      ? 'stopped before finishing (the target holds a partial last-write plan)'
      : `entries ${s.firstEntry}..${s.lastEntry}`;
  stdout.line(
    `replayed ${where} (${s.entries} entries, plan ${s.plan}): ${(s.bytesWritten / 1048576).toFixed(1)} MiB written, ${(s.bytesZeroed / 1048576).toFixed(1)} MiB zeroed in ${s.seconds.toFixed(2)} s (${(mib / Math.max(s.seconds, 1e-6)).toFixed(0)} MiB/s)`,
  );
  if (s.interrupted)
    stdout.line(`interrupted: the target is synced and holds the log up to entry ${s.lastEntry ?? '(partial)'}`);
  if (s.checks)
    stdout.line(
      `checks: ${s.checks} run, ${s.failures.length} failed${s.failures.length ? ` (first at entry ${s.failures[0]!.entry})` : ''}`,
    );
  for (const note of s.notes) stdout.line(note);
  for (const f of s.failures)
    stdout.line(`check failed at entry ${f.entry} (exit ${f.status}):\n${f.output.trimEnd().replace(/^/gm, '  ')}`);
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
    .option(
      '--sectors <A..B>',
      'only entries touching device sectors A to B, inclusive (log sector units)',
      parseSectorRange,
    )
    .option(
      '--discard <mode>',
      "zero: discarded sectors read back as zeros (BLKZEROOUT, a hole in a file); unmap: the device's own discard (BLKDISCARD, may not zero); skip: ignore discards",
      'zero',
    )
    .option(
      '--plan <plan>',
      'last-write: only the final version of each sector (default without checks); sequential: entry by entry',
    )
    .option(
      '--check <when>',
      'run the checker after entries with these flags (fua, flush, mark) or every N entries',
      parseCheckAt,
    )
    .option(
      '--exec <cmd>',
      'checker command, run by /bin/sh with $LOGWRITES_TARGET and $LOGWRITES_ENTRY; exit 0 = consistent',
    )
    .option('--keep-going', 'go on after a failed check and report them all')
    .option('--force', 'replay onto a mounted device, the log itself, or a target too small')
    .option('--json', 'the summary as JSON')
    .addHelpText(
      'after',
      `
Exit status: 0 replayed (and every check passed), 1 bad input or usage, 2 a check failed,
130/143 stopped by SIGINT/SIGTERM (the target is synced and the summary says where).

Examples:
  $ logwrites replay log.img disk.img --to mark:fsync
  $ logwrites replay log.img disk.img --from mark:mkfs --check fua --exec 'e2fsck -fn $LOGWRITES_TARGET'`,
    )
    .action(async (log: string, target: string, o: ReplayCliOptions) => {
      if (!['zero', 'unmap', 'skip'].includes(o.discard))
        throw new CliError(`--discard must be zero, unmap or skip, not '${o.discard}'`);
      if (o.plan !== undefined && o.plan !== 'last-write' && o.plan !== 'sequential')
        throw new CliError(`--plan must be last-write or sequential, not '${o.plan}'`);
      const s = await replayCommand(log, target, o);
      if (o.json) stdout.json(s);
      else printSummary(s);
      if (s.failures.length) process.exitCode = EXIT_CHECK;
      else if (s.signal) process.exitCode = signalStatus(s.signal);
    });
}
