// replay-log the way xfstests calls it, against the C tool in the same run, onto loop block
// devices (one per tool, so that calls interleave step by step without disturbing each other):
//
// - generic/482 (also 757, btrfs/172, 190, 196, 206): find the mkfs mark, then for every FUA
//   after it `replay-log -vv --log L --replay DEV --limit cur+1` and
//   `replay-log --find --log L --next-fua --start-entry cur+1` (common/dmlogwrites);
// - generic/455 and 457: `--find --end-mark M` then `--replay DEV --end-mark M` per mark;
// - btrfs/192: one `--replay DEV --check fua --fsck CHECKER` pass (checker `true` here: the
//   cost of running a checker at all);
// - a full replay, `--replay DEV` of the whole log, five times (a small log: the issue asks
//   that it cost no more than the C tool's), and `logwrites replay LOG DEV` as often.
//
// The mount and fsck the tests run between calls are left out: they cost the same whatever
// replays. Every call's stdout and each device's final bytes are compared with the C tool's.
// The log sits on a loop device too, as xfstests' LOGWRITES_DEV is a block device.
//
//   REPLAY_LOG_C=/path/to/replay-log node bench/run.mjs xfstests [--steps N] [--logs a,b] [--dir D] [--log-file]
//
// --steps cuts generic/482's loop after N steps (default: all); --log-file reads the log from
// a file instead. Ours runs with this machine's NODE_EXTRA_CA_CERTS (when set) and without it,
// and without its entry index kept between calls (LOGWRITES_CACHE=off, a fresh cache folder
// otherwise), and through the replay-log server, with and without the server's own start. The
// floor is bare Node's start (`node -e 0`) once per call.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { LogReader } from '../src/reader.ts';
import { openSource } from '../src/node/io/file.ts';
import { sha256File } from '../test/support/fixtures.ts';
import { generateDiscardLog } from '../test/support/generate.ts';
import { attachFile, attachLoop, type LoopDevice } from './loop-device.ts';
import { median, table } from './stats.ts';

const ROOT = process.cwd();
const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const STEPS = Number(opt('steps') ?? Infinity);
const LOGS = (opt('logs') ?? 'ext4-fsync-many,btrfs-512,discard-heavy').split(',');
const LOG_FILE = argv.includes('--log-file');
const DIR = fs.mkdtempSync(path.join(opt('dir') ?? os.tmpdir(), 'logwrites-xfstests-'));

interface Tool {
  name: string;
  cmd: string[];
  env: NodeJS.ProcessEnv;
  /**
   * What starting it took before its first call (the server's start and warm-up): a row of its
   * own adds it to each workload's total (it starts once per run, so that is an upper bound).
   */
  startMs?: number;
}

/** The tools, each with its own environment (`log`: what the server's first call reads, when it starts). */
function tools(log: string): Tool[] {
  const out: Tool[] = [];
  const c = process.env.REPLAY_LOG_C;
  if (c && fs.existsSync(c)) out.push({ name: 'C tool', cmd: [c], env: process.env });
  else console.log(`REPLAY_LOG_C is ${c ? `${c}, which does not exist` : 'not set'}: no C tool to compare with`);
  const ours = [process.execPath, path.join(ROOT, 'bin/replay-log.js')];
  const { NODE_EXTRA_CA_CERTS, ...bare } = process.env;
  const cache = { ...bare, LOGWRITES_CACHE_DIR: fs.mkdtempSync(path.join(DIR, 'cache-')) };
  if (NODE_EXTRA_CA_CERTS)
    out.push({ name: 'ours, NODE_EXTRA_CA_CERTS set', cmd: ours, env: { ...cache, NODE_EXTRA_CA_CERTS } });
  out.push({ name: 'ours', cmd: ours, env: cache });
  out.push({ name: 'ours, no index kept', cmd: ours, env: { ...bare, LOGWRITES_CACHE: 'off' } });
  const server = startServer(log);
  if (server)
    out.push({
      name: 'ours, replay-log-server',
      cmd: [path.join(ROOT, 'dist/replay-log')],
      env: { ...cache, ...server.env },
      startMs: server.ms,
    });
  return out;
}

/**
 * A replay-log server for the native front, on a socket of its own (stopped at exit), or
 * undefined (with why) when the front or the addon is not built. Its environment is the
 * front's: what a call sees comes from its client, not from the server.
 */
let started: { env: NodeJS.ProcessEnv; ms: number } | undefined | null = null;
function startServer(log: string): { env: NodeJS.ProcessEnv; ms: number } | undefined {
  if (started === null) started = spawnServer(log);
  return started;
}

/** The server's environment for the front, and how long it took until its first call returned (its warm-up included). */
function spawnServer(log: string): { env: NodeJS.ProcessEnv; ms: number } | undefined {
  const t = performance.now();
  const front = path.join(ROOT, 'dist/replay-log');
  if (!fs.existsSync(front) || !fs.existsSync(path.join(ROOT, 'dist/native.node'))) {
    console.log('no dist/replay-log or dist/native.node: no row for the replay-log server');
    return undefined;
  }
  const socket = path.join(DIR, 'server', 'replay-log.sock');
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli.cjs'), 'replay-log-server', '--socket', socket], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  child.unref();
  process.on('exit', () => child.kill());
  for (let i = 0; i < 500 && !fs.existsSync(socket); i++) spawnSync('sleep', ['0.01']);
  const env = { LOGWRITES_REPLAY_LOG_SOCKET: socket };
  // It listens at once and warms up before its first call: the start is over when one returns.
  spawnSync(front, ['--log', log, '--num-entries'], { env: { ...process.env, ...env } });
  return { env, ms: performance.now() - t };
}

/** Bare Node's start, the floor under each of our calls (median of 21, NODE_EXTRA_CA_CERTS unset). */
function nodeFloor(): number {
  const { NODE_EXTRA_CA_CERTS: _, ...env } = process.env;
  const times = Array.from({ length: 21 }, () => {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { env });
    return performance.now() - t;
  });
  return median(times);
}

interface Call {
  kind: string;
  ms: number;
}

class Runner {
  readonly calls: Call[] = [];
  constructor(
    readonly tool: Tool,
    readonly device: LoopDevice,
  ) {}

  /** One call; its stdout, or undefined when it exits non-zero (as `find` does past the last FUA). */
  run(kind: string, args: string[]): string | undefined {
    const [cmd, ...pre] = this.tool.cmd;
    const t = performance.now();
    const r = spawnSync(cmd!, [...pre, ...args], { env: this.tool.env, encoding: 'utf8', maxBuffer: 1 << 30 });
    this.calls.push({ kind, ms: performance.now() - t });
    return r.status === 0 ? r.stdout : undefined;
  }
}

/** Run one call on every runner in turn; their outputs must agree. */
function each(runners: Runner[], kind: string, args: (dev: string) => string[]): string | undefined {
  const outs = runners.map((r) => r.run(kind, args(r.device.dev)));
  for (let i = 1; i < outs.length; i++) {
    if (outs[i] !== outs[0])
      throw new Error(
        `${runners[i]!.tool.name} and ${runners[0]!.tool.name} differ on ${kind} ${args('DEV').join(' ')}`,
      );
  }
  return outs[0];
}

const entryOf = (out: string | undefined) => (out === undefined ? undefined : Number(out.split('@')[0]));

function generic482(runners: Runner[], log: string): number {
  const prev = entryOf(each(runners, 'find', () => ['--find', '--log', log, '--end-mark', 'mkfs'])) ?? 0;
  let cur = entryOf(each(runners, 'find', () => ['--find', '--log', log, '--next-fua', '--start-entry', String(prev)]));
  let steps = 0;
  while (cur !== undefined && steps < STEPS) {
    const end = cur;
    each(runners, 'replay', (dev) => ['-vv', '--log', log, '--replay', dev, '--limit', String(end + 1)]);
    steps++;
    cur = entryOf(
      each(runners, 'find', () => ['--find', '--log', log, '--next-fua', '--start-entry', String(end + 1)]),
    );
  }
  return steps;
}

async function marksOf(log: string): Promise<string[]> {
  const source = openSource(log);
  try {
    const reader = await LogReader.open(source);
    const marks: string[] = [];
    for await (const e of reader.entries()) if (e.mark !== undefined) marks.push(e.mark);
    return marks;
  } finally {
    source.close();
  }
}

function generic455(runners: Runner[], log: string, marks: string[]): void {
  for (const m of marks) {
    each(runners, 'find', () => ['--find', '--log', log, '--end-mark', m]);
    each(runners, 'replay', (dev) => ['--log', log, '--replay', dev, '--end-mark', m]);
  }
}

function btrfs192(runners: Runner[], log: string): void {
  each(runners, 'check', (dev) => ['--log', log, '--replay', dev, '--check', 'fua', '--fsck', 'true']);
}

/** The whole log, FULL_RUNS times; `logwrites replay` as often onto the first of our devices, as an extra row. */
const FULL_RUNS = 5;
function fullReplay(runners: Runner[], log: string): Runner | undefined {
  const first = runners.find((r) => r.tool.cmd[0] === process.execPath);
  const lw =
    first &&
    new Runner(
      {
        name: 'logwrites replay (one Node)',
        cmd: [process.execPath, path.join(ROOT, 'bin/logwrites.js')],
        env: first.tool.env,
      },
      first.device,
    );
  for (let i = 0; i < FULL_RUNS; i++) {
    each(runners, 'full replay', (dev) => ['--log', log, '--replay', dev]);
    if (lw && lw.run('full replay', ['replay', log, lw.device.dev, '--json']) === undefined)
      throw new Error(`logwrites replay ${log} failed`);
  }
  return lw;
}

function report(title: string, runners: Runner[], floor: number): void {
  const base = runners[0]!;
  const total = (r: Runner) => r.calls.reduce((s, c) => s + c.ms, 0);
  const kinds = [...new Set(base.calls.map((c) => c.kind))];
  const rows = [['tool', 'calls', 'total s', ...kinds.map((k) => `median ${k} ms`), `vs ${base.tool.name}`]];
  for (const r of runners) {
    rows.push([
      r.tool.name,
      String(r.calls.length),
      (total(r) / 1000).toFixed(2),
      ...kinds.map((k) => median(r.calls.filter((c) => c.kind === k).map((c) => c.ms)).toFixed(1)),
      `${(total(r) / total(base)).toFixed(2)}x`,
    ]);
  }
  for (const r of runners.filter((r) => r.tool.startMs !== undefined)) {
    const t = total(r) + r.tool.startMs!;
    rows.push([
      `${r.tool.name}, its start included`,
      String(r.calls.length),
      (t / 1000).toFixed(2),
      ...kinds.map(() => ''),
      `${(t / total(base)).toFixed(2)}x`,
    ]);
  }
  const calls = base.calls.length;
  rows.push([
    'floor: bare node -e 0 per call',
    String(calls),
    ((calls * floor) / 1000).toFixed(2),
    ...kinds.map(() => floor.toFixed(1)),
    `${((calls * floor) / total(base)).toFixed(2)}x`,
  ]);
  console.log(`\n${title}\n${table(rows)}`);
  const hashes = runners.map((r) => sha256File(r.device.dev).slice(0, 16));
  console.log(
    `device bytes after the last call: ${hashes.every((h) => h === hashes[0]) ? `equal (sha256 ${hashes[0]})` : `DIFFER: ${hashes.join(' ')}`}`,
  );
  for (const r of runners) r.calls.length = 0;
}

async function logFor(name: string): Promise<{ log: string; bytes: number }> {
  if (name === 'discard-heavy') {
    const log = path.join(DIR, 'discard-heavy.log');
    const bytes = 256 * 1024 * 1024;
    const { entries } = generateDiscardLog(log, { sectorSize: 512, deviceBytes: bytes, steps: 400 });
    console.log(
      `\ndiscard-heavy: generated, ${entries} entries (400 FUA steps, 1201 discards of odd offsets and lengths after a discard of the whole device), 256 MiB device`,
    );
    return { log, bytes };
  }
  // Bundled into node_modules/.cache by bench/run.mjs: the fixtures are found from the package root.
  const dir = path.join(ROOT, 'test/fixtures/kernel', name);
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  console.log(
    `\n${name}: kernel log, ${m.nr_entries} entries, FUA ${m.flag_counts.FUA ?? 0}, DISCARD ${m.flag_counts.DISCARD ?? 0}, ${m.device_size / 1048576} MiB device, sectorsize ${m.sectorsize}`,
  );
  const log = path.join(DIR, `${name}.log`);
  fs.writeFileSync(log, zlib.gunzipSync(fs.readFileSync(path.join(dir, 'log.img.gz'))));
  return { log, bytes: m.device_size };
}

async function benchLog(name: string): Promise<void> {
  const { log: file, bytes } = await logFor(name);
  const devices: LoopDevice[] = [];
  try {
    let log = file;
    if (!LOG_FILE) {
      const d = attachFile(file);
      if ('skip' in d) {
        console.log(`  skipped: ${d.skip}`);
        return;
      }
      devices.push(d);
      log = d.dev;
    }
    const floor = nodeFloor();
    const runners: Runner[] = [];
    for (const [i, t] of tools(log).entries()) {
      const d = attachLoop(DIR, `${name}-${i}`, bytes);
      if ('skip' in d) {
        console.log(`  skipped: ${d.skip}`);
        return;
      }
      devices.push(d);
      runners.push(new Runner(t, d));
    }
    const steps = generic482(runners, log);
    report(
      `generic/482's loop (${steps} FUA steps${Number.isFinite(STEPS) ? `, cut at --steps ${STEPS}` : ''}), log on ${LOG_FILE ? 'a file' : 'a loop device'}`,
      runners,
      floor,
    );
    const marks = await marksOf(file);
    generic455(runners, log, marks);
    report(`generic/455's find + replay per mark (${marks.length} marks)`, runners, floor);
    btrfs192(runners, log);
    report("btrfs/192's single pass, --check fua --fsck true", runners, floor);
    const lw = fullReplay(runners, log);
    report(`a full replay of the log, ${FULL_RUNS} times`, lw ? [...runners, lw] : runners, floor);
  } finally {
    for (const d of devices) d.detach();
  }
}

try {
  console.log(
    `bench/xfstests: one call after another, each timed with its process start; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const name of LOGS) await benchLog(name);
  console.log(
    `\nload average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} finally {
  fs.rmSync(DIR, { recursive: true, force: true });
}
