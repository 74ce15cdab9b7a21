// `logwrites explore`: check every crash state a power cut could leave (README "Crash
// states"), each distinct device once, in parallel; and rebuild any one of them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  autoShard,
  MAX_EXHAUSTIVE_WRITES,
  mergeReports,
  SHARD_VARIABLES,
  STRATEGY_KINDS,
  type EpochSelection,
  type ShardEnvironment,
  type Strategy,
  type StrategyKind,
} from '../explore/explorer.ts';
import {
  exploreLog,
  materializeToFile,
  readReport,
  writeReport,
  type ExploreReport,
  type ExploreSummary,
  type Shard,
} from '../node/explore/runner.ts';
import type { Point } from '../range.ts';
import { onStopSignals } from '../node/io/signals.ts';
import { EXIT_CHECK } from './exit.ts';
import { parseCount, parsePoint, POINT_HELP } from './common.ts';
import { stdout } from './output.ts';
import { CliError } from '../errors.ts';
import { parseSize as sizeOf } from '../units.ts';

interface ExploreCliOptions {
  image?: string;
  exec?: string;
  strategy: string[];
  states: number;
  seed: number;
  maxWrites: number;
  epochs?: { from: number; to: number };
  from?: Point;
  to?: Point;
  maxStates?: number;
  jobs: number;
  size?: number;
  report?: string;
  resume?: string;
  shard?: Shard | 'auto';
  shards?: number;
  timeout?: number;
  json?: boolean;
  materialize?: string;
}

function parseEpochs(text: string): { from: number; to: number } {
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
  if (!m) throw new InvalidArgumentError(`'${text}' is not an epoch range FROM..TO`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from) throw new InvalidArgumentError(`epoch range ${text} ends before it starts`);
  return { from, to };
}

function parseShard(text: string): Shard | 'auto' {
  if (text === 'auto') return text;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || count < 1 || index < 1 || index > count)
    throw new InvalidArgumentError(`'${text}' is not a shard i/n with 1 <= i <= n, nor auto`);
  return { index, count };
}

function parseSize(text: string): number {
  const n = sizeOf(text);
  if (n === undefined) throw new InvalidArgumentError(`'${text}' is not a size (bytes, or with K, M, G, T)`);
  return n;
}

function seconds(text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0))
    throw new InvalidArgumentError(`'${text}' is not a number of seconds above 0`);
  return n;
}

function positive(text: string): number {
  const n = parseCount(text);
  if (n < 1) throw new InvalidArgumentError(`'${text}' must be at least 1`);
  return n;
}

const collect = (text: string, list: string[]) => [
  ...list,
  ...text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function strategiesOf(o: ExploreCliOptions): Strategy[] {
  const names = o.strategy.length ? o.strategy : ['prefix'];
  const kinds: StrategyKind[] = [];
  for (const name of names) {
    if (!(STRATEGY_KINDS as readonly string[]).includes(name))
      throw new CliError(`unknown strategy '${name}' (known: ${STRATEGY_KINDS.join(', ')})`);
    if (!kinds.includes(name as StrategyKind)) kinds.push(name as StrategyKind);
  }
  if (o.maxWrites > MAX_EXHAUSTIVE_WRITES)
    throw new CliError(
      `--max-writes is at most ${MAX_EXHAUSTIVE_WRITES} (2^${MAX_EXHAUSTIVE_WRITES} states per epoch)`,
    );
  return kinds.map((kind): Strategy => {
    if (kind === 'random') return { kind, states: o.states, seed: o.seed };
    if (kind === 'exhaustive') return { kind, maxWrites: o.maxWrites };
    return { kind };
  });
}

function selectionOf(o: ExploreCliOptions): EpochSelection {
  if (o.epochs && (o.from || o.to)) throw new CliError('--epochs and --from/--to choose epochs two ways; use one');
  return {
    ...(o.epochs ? { epochs: o.epochs } : {}),
    ...(o.from ? { from: o.from } : {}),
    ...(o.to ? { to: o.to } : {}),
  };
}

/** The shard to check: given, or (auto) from the batch engine's environment. */
function shardOf(o: ExploreCliOptions): Shard | undefined {
  if (o.shards !== undefined && o.shard !== 'auto')
    throw new CliError('--shards N goes with --shard auto (with --shard i/n the count is n)');
  if (o.shard !== 'auto') return o.shard;
  const env: Record<string, string | undefined> = {};
  for (const name of SHARD_VARIABLES) env[name] = process.env[name];
  return autoShard(env as ShardEnvironment, o.shards);
}

/** `--report DIR/` (or an existing directory): one file per shard in it, named by the shard; made when `create`. */
function reportPath(text: string, shard: Shard | undefined, create = false): string {
  const isDir = text.endsWith('/') || (fs.existsSync(text) && fs.statSync(text).isDirectory());
  if (!isDir) return text;
  if (create) fs.mkdirSync(text, { recursive: true });
  return path.join(text, `shard-${shard?.index ?? 1}-of-${shard?.count ?? 1}.json`);
}

function progressLine(s: ExploreSummary): string {
  return `\rexploring epoch ${s.lastEpoch ?? '-'}: ${s.generated} states, ${s.unique} unique, ${s.checked} checked, ${s.failed} failed, ${s.statesPerSecond.toFixed(0)} states/s `;
}

const SHOWN_FAILURES = 10;
const SHOWN_LINES = 12;

function printReport(r: ExploreReport, log: string): void {
  const s = r.summary;
  const rate = `${s.statesPerSecond.toFixed(0)} states/s`;
  const epochs =
    s.firstEpoch === null
      ? 'no epoch'
      : s.firstEpoch === s.lastEpoch
        ? `epoch ${s.firstEpoch}`
        : `epochs ${s.firstEpoch}..${s.lastEpoch}`;
  stdout.line(
    `explored ${epochs}: ${s.generated} states generated, ${s.unique} unique, ${s.checked} checked, ${s.failed} failed in ${s.seconds.toFixed(2)} s (${rate})`,
  );
  if (s.otherShards) stdout.line(`${s.otherShards} unique states belong to other shards`);
  if (s.resumed) stdout.line(`${s.resumed} states were checked by the run being resumed`);
  if (s.timedOut)
    stdout.line(
      `${s.timedOut} of the failed states timed out (--timeout ${r.plan.timeout} s): not known to be consistent`,
    );
  if (s.stopped?.reason === 'max-states') {
    stdout.line(
      `incomplete: stopped at --max-states ${r.plan.maxStates} in epoch ${s.stopped.epoch}; later states of it and later epochs were not explored`,
    );
  } else if (s.stopped) {
    stdout.line(
      `interrupted${s.stopped.epoch !== null ? ` in epoch ${s.stopped.epoch}` : ''}: the report is incomplete (continue with --resume REPORT)`,
    );
  } else if (!s.complete) {
    // A report saved while its run went on: it is still running, or was killed.
    stdout.line('incomplete: the run had not finished when this report was saved (continue with --resume REPORT)');
  }
  for (const f of r.failures.slice(0, SHOWN_FAILURES)) {
    const missing = f.excluded.length ? `without ${f.excluded.join(', ')}` : 'nothing missing';
    const how = f.timedOut
      ? `timed out after ${r.plan.timeout} s`
      : `failed (${f.signal ? `signal ${f.signal}` : `exit ${f.status}`})`;
    stdout.line(`state ${f.id} (epoch ${f.epoch}, ${missing}) ${how}`);
    if (f.output.trim())
      stdout.line(f.output.trimEnd().split('\n').slice(-SHOWN_LINES).join('\n').replace(/^/gm, '  '));
  }
  if (r.failures.length > SHOWN_FAILURES)
    stdout.line(`... and ${r.failures.length - SHOWN_FAILURES} more failed states (all of them in --json or --report)`);
  if (r.failures.length)
    stdout.line(`rebuild one with: logwrites explore ${log} --materialize ${r.failures[0]!.id} state.img`);
}

/** Report files: those named, and the *.json in directories named. */
function reportFiles(args: readonly string[]): string[] {
  return args.flatMap((a) => {
    if (!(fs.existsSync(a) && fs.statSync(a).isDirectory())) return [a];
    const found = fs
      .readdirSync(a)
      .filter((f) => f.endsWith('.json'))
      .sort();
    if (!found.length) throw new CliError(`${a} holds no report (*.json)`);
    return found.map((f) => path.join(a, f));
  });
}

interface MergeCliOptions {
  json?: boolean;
  report?: string;
}

function mergeCommand(args: string[], o: MergeCliOptions): void {
  const inputs = reportFiles(args).map((name) => ({ name, report: readReport(name) }));
  const report = mergeReports(inputs);
  if (o.report) writeReport(o.report, report);
  if (o.json) stdout.json({ ...report, checked: undefined });
  else {
    const count = inputs[0]!.report.plan.shard?.count ?? 1;
    stdout.line(`merged ${count} shard${count > 1 ? 's' : ''} of one run`);
    for (const x of inputs)
      if (!x.report.summary.complete) stdout.line(`shard ${x.report.plan.shard?.index ?? 1} (${x.name}) is incomplete`);
    printReport(report, 'LOG');
  }
  if (report.failures.length) process.exitCode = EXIT_CHECK;
}

async function materializeCommand(log: string, out: string | undefined, o: ExploreCliOptions): Promise<void> {
  if (!out)
    throw new CliError('--materialize needs the image to write: logwrites explore LOG --materialize STATE OUT.img');
  const st = await materializeToFile(log, o.materialize!, out, o.size);
  if (o.json) stdout.json({ state: o.materialize, image: out, ...st, map: undefined });
  else
    stdout.line(
      `wrote state ${o.materialize} to ${out} (epoch ${st.epoch}; its writes before the crash point: ${st.included.length} present, ${st.excluded.length} missing)`,
    );
}

export function registerExplore(program: Command): void {
  const explore = program
    .command('explore')
    // Its options come before `merge`, so that merge's own (--json) are merge's.
    .enablePositionalOptions()
    .description('check the crash states a power cut could leave, each distinct device once')
    .argument('<log>', 'log file or device')
    .argument('[out]', 'with --materialize: the image to write')
    .option('--image <path>', 'working image (created, or overwritten: explore owns its content)')
    .option(
      '--exec <cmd>',
      'checker, run by /bin/sh; {image} is the image path (also $LOGWRITES_TARGET); exit 0 = consistent',
    )
    .addOption(
      new Option(
        '--strategy <names>',
        'flush, prefix, omit-one, random, exhaustive; comma-separated or repeated; the state at every FLUSH is always checked',
      )
        .argParser(collect)
        .default([], 'prefix'),
    )
    .option('--states <n>', 'random: states per epoch', positive, 100)
    .option('--seed <n>', 'random: seed', parseCount, 1)
    .option('--max-writes <n>', 'exhaustive: only epochs of at most n writes', parseCount, 10)
    .option(
      '--epochs <FROM..TO>',
      'explore these epochs (numbered from 0; epoch k starts at the k-th FLUSH)',
      parseEpochs,
    )
    .option('--from <point>', `explore from the epoch holding this point: ${POINT_HELP}`, parsePoint)
    .option('--to <point>', `explore to the epoch holding this point: ${POINT_HELP}`, parsePoint)
    .option('--max-states <n>', 'generate at most n states in all', parseCount)
    .option('--jobs <n>', 'run n checkers at once, each on its own copy of the image', positive, 1)
    .option('--size <bytes>', 'device size (default: the image size or what the log reaches, the larger)', parseSize)
    .option(
      '--timeout <seconds>',
      'kill a checker (its whole process group) after this long; the state is reported as timed out',
      seconds,
    )
    .option(
      '--report <file>',
      'keep the JSON report here, updated as the run goes; DIR/: one file per shard in DIR, shard-I-of-N.json',
    )
    .option(
      '--resume <file>',
      "continue the run this report describes (and update it unless --report); DIR/: this shard's file in DIR",
    )
    .option(
      '--shard <i/n|auto>',
      'check only shard i of n (by fingerprint, so shards split the unique states exactly); auto: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX',
      parseShard,
    )
    .option(
      '--shards <n>',
      'with --shard auto and JOB_COMPLETION_INDEX: the number of shards (or LOGWRITES_SHARDS)',
      positive,
    )
    .option('--json', 'print the report (without the list of checked fingerprints) as JSON')
    .option('--materialize <state-id>', 'rebuild this state into [out] instead of exploring')
    .addHelpText(
      'after',
      `
A state id names log entries: 346 is the first 346 entries (as replay --limit 346);
346-340,342..344 is the same without entries 340 and 342 to 344.
Exit status: 0 every state checked consistent, 1 bad input or usage, 2 a state failed or timed out.
\`logwrites explore merge REPORT...\` joins the reports of a run's shards (see its --help).

Examples:
  $ logwrites explore log.img --image work.img --exec 'e2fsck -fn {image}' --strategy prefix,omit-one
  $ logwrites explore log.img --image work.img --exec ./check.sh --strategy random --states 500 --jobs 4
  $ logwrites explore log.img --materialize 346-340 state.img
  $ logwrites explore log.img --image /tmp/w.img --exec 'e2fsck -fn {image}' --shard auto --report out/ --timeout 600`,
    )
    .action(async (log: string, out: string | undefined, o: ExploreCliOptions) => {
      if (o.materialize !== undefined) return materializeCommand(log, out, o);
      if (out !== undefined)
        throw new CliError(`unexpected argument '${out}' (an output image goes with --materialize)`);
      if ((o.image === undefined) !== (o.exec === undefined))
        throw new CliError('--image and --exec go together (neither: only count the states)');
      const shard = shardOf(o);
      const resume = o.resume !== undefined ? readReport(reportPath(o.resume, shard)) : undefined;
      const stop = new AbortController();
      const stopListening = onStopSignals(() => stop.abort());
      const tty = process.stderr.isTTY;
      let drawn = 0;
      try {
        const report = await exploreLog({
          log,
          strategies: strategiesOf(o),
          selection: selectionOf(o),
          ...(o.maxStates !== undefined ? { maxStates: o.maxStates } : {}),
          ...(o.image !== undefined ? { image: o.image, exec: o.exec! } : {}),
          jobs: o.jobs,
          ...(o.size !== undefined ? { size: o.size } : {}),
          ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
          ...(shard ? { shard } : {}),
          ...(resume ? { resume } : {}),
          ...((o.report ?? o.resume) ? { reportPath: reportPath((o.report ?? o.resume)!, shard, true) } : {}),
          signal: stop.signal,
          onProgress: (s) => {
            if (!tty || performance.now() - drawn < 100) return;
            drawn = performance.now();
            process.stderr.write(progressLine(s));
          },
        });
        if (drawn) process.stderr.write('\r\x1b[K');
        if (o.json) stdout.json({ ...report, checked: undefined });
        else printReport(report, log);
        if (report.failures.length) process.exitCode = EXIT_CHECK;
      } finally {
        stopListening();
      }
    });

  explore
    .command('merge')
    .description("join the reports of a run's shards into the report of the whole run")
    .argument('<reports...>', 'report files, or directories of them (--report DIR/)')
    .option('--json', 'print the merged report (without the list of checked fingerprints) as JSON')
    .option('--report <file>', 'write the merged report here (it can be resumed as an unsharded run)')
    .addHelpText(
      'after',
      `
Refuses reports of different runs (log content, strategies, selection, --max-states, checker,
--timeout) and a set of shards with one missing or given twice.
Exit status: 0 every state checked consistent, 1 bad input or usage, 2 a state failed or timed out.

Example:
  $ logwrites explore merge out/`,
    )
    .action(mergeCommand);
}
