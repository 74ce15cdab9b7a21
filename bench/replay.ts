// How fast replay-log finds marks, counts entries and replays, against what the hardware does
// with the same bytes in the same run: `cat log > /dev/null` (reading the log) and `dd` of the
// log into a fresh file (writing that many bytes). Logs like the reference figures:
// ~1.1 GiB of random writes over a 4 GiB device, sectorsize 512, a flush every 64 writes,
// marks sprinkled, a last mark at the end.
//
//   node bench/run.mjs replay [--runs 3] [--dir /tmp] [--only 4k|128k] [--keep]
//
// replay-log runs as a CLI (`node bin/replay-log.js`, so Node's start-up is included; it is
// measured separately) and in-process (the same code without start-up). When the C tool
// is at /tmp/upstream/replay-log (built from xfstests, never part of this package), it is
// timed side by side.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeHeader, encodeSuper, Flag } from '../src/format.ts';
import { replayLogMain } from '../src/node/replay-log/replay-log.ts';

// Bundled into the temp folder by bench/run.mjs, so the package is found from where it runs.
const ROOT = process.cwd();
const UPSTREAM = '/tmp/upstream/replay-log';
const S = 512;
const DEVICE = 4 * 1024 ** 3;
const LAST_MARK = 'bench-last';

interface Spec {
  name: string;
  writes: number;
  writeBytes: number;
}
const SPECS: Spec[] = [
  { name: '4k', writes: 262_144, writeBytes: 4096 },
  { name: '128k', writes: 8192, writeBytes: 128 * 1024 },
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const RUNS = Math.max(3, Number(arg('runs', '3')));
const DIR = fs.mkdtempSync(path.join(arg('dir', '/tmp'), 'logwrites-bench-'));
const ONLY = arg('only', '');
const KEEP = process.argv.includes('--keep');

/** A deterministic xorshift stream, so every run replays the same log. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Write the log to `file` in large appends; returns its entry count and the payload bytes. */
function generate(spec: Spec, file: string): { entries: number; bytes: number } {
  const random = rng(spec.writeBytes);
  const fd = fs.openSync(file, 'w');
  const out = Buffer.allocUnsafe(16 << 20);
  let used = 0;
  let at = S;
  const put = (b: Uint8Array) => {
    if (used + b.length > out.length) {
      fs.writeSync(fd, out, 0, used, at - used);
      used = 0;
    }
    out.set(b, used);
    used += b.length;
    at += b.length;
  };
  // Payloads: one random block, stamped with the write number so no two are alike.
  const payload = Buffer.alloc(spec.writeBytes);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((random() * 2 ** 32) >>> 0, i);
  const slots = DEVICE / spec.writeBytes;
  const perWrite = spec.writeBytes / S;
  let entries = 0;
  const header = (fields: Parameters<typeof encodeHeader>[0]) => {
    put(encodeHeader(fields, S));
    entries++;
  };
  for (let w = 0; w < spec.writes; w++) {
    header({
      sector: Math.floor(random() * slots) * perWrite,
      nrSectors: perWrite,
      flags: w % 97 === 0 ? Flag.FUA : 0,
    });
    payload.writeUInt32LE(w, 0);
    put(payload);
    if ((w + 1) % 64 === 0) header({ sector: 0, nrSectors: 0, flags: Flag.FLUSH });
    if ((w + 1) % 4096 === 0) header({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: `m${w + 1}` });
  }
  header({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: LAST_MARK });
  fs.writeSync(fd, out, 0, used, at - used);
  fs.writeSync(fd, encodeSuper({ nrEntries: entries, sectorSize: S }), 0, S, 0);
  fs.closeSync(fd);
  return { entries, bytes: spec.writes * spec.writeBytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median wall time of `fn` over RUNS runs, after `prepare` (untimed) before each. */
function timeRuns(fn: () => void, prepare: () => void = () => {}): number {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    prepare();
    const t = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return median(times);
}

async function timeRunsAsync(fn: () => Promise<unknown>, prepare: () => void = () => {}): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    prepare();
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  return median(times);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

const quiet = {
  out: { write() {}, flush() {} },
  err: (l: string) => void process.stderr.write(`${l}\n`),
  prog: 'replay-log',
};
async function inProcess(args: string[]): Promise<void> {
  const status = await replayLogMain(args, quiet);
  if (status !== 0) throw new Error(`replay-log ${args.join(' ')} exited ${status}`);
}

/** A fresh sparse image, with the writeback of earlier runs settled so it does not bill this one. */
function freshSparse(file: string): void {
  fs.rmSync(file, { force: true });
  run('sync', []);
  fs.writeFileSync(file, '');
  fs.truncateSync(file, DEVICE);
}

/** A loop device over a sparse file, or why there is none. */
function loopDevice(backing: string): string | { skip: string } {
  try {
    freshSparse(backing);
    return execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
  } catch (e) {
    return { skip: `no loop device (${(e as Error).message.split('\n')[0]})` };
  }
}

function dropLoop(dev: string, backing: string): void {
  spawnSync('losetup', ['-d', dev]);
  fs.rmSync(backing, { force: true });
}

/** Zero a loop device between runs (punching holes in its backing file) so each replay starts equal. */
function resetLoop(dev: string): void {
  run('blkdiscard', [dev]);
  run('sync', []);
}

interface Row {
  what: string;
  seconds: number;
  base: number;
  baseName: string;
  bytes: number;
  entries: number;
}
const rows: Row[] = [];
const mib = (b: number) => b / 1024 ** 2;

function report(r: Row): void {
  rows.push(r);
  const ratio = r.seconds / r.base;
  console.log(
    `  ${r.what.padEnd(44)} ${r.seconds.toFixed(3).padStart(7)} s  ${(mib(r.bytes) / r.seconds).toFixed(0).padStart(6)} MiB/s  ${(r.entries / r.seconds / 1e6).toFixed(2).padStart(6)} M entries/s  ${ratio.toFixed(2).padStart(6)}x ${r.baseName}`,
  );
}

async function benchOne(spec: Spec, startup: number): Promise<void> {
  const log = path.join(DIR, `${spec.name}.log`);
  const t0 = process.hrtime.bigint();
  const { entries } = generate(spec, log);
  const logBytes = fs.statSync(log).size;
  console.log(
    `\n${spec.name}: ${spec.writes} writes of ${spec.writeBytes} B, ${entries} entries, ${mib(logBytes).toFixed(0)} MiB log (generated in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s)`,
  );
  const target = path.join(DIR, `${spec.name}.img`);
  const ddOut = path.join(DIR, `${spec.name}.dd`);

  // Physical limits, same run, page cache warm (the first cat warms it).
  run('sh', ['-c', `cat '${log}' > /dev/null`]);
  const cat = timeRuns(() => run('sh', ['-c', `cat '${log}' > /dev/null`]));
  const ddRun = (...extra: string[]) =>
    timeRuns(
      () => run('dd', [`if=${log}`, `of=${ddOut}`, 'bs=1M', 'status=none', ...extra]),
      () => {
        fs.rmSync(ddOut, { force: true });
        run('sync', []);
      },
    );
  const dd = ddRun();
  // Not a ratio base (the figures use plain dd), but replay ends in an fsync too.
  const ddSync = ddRun('conv=fsync');
  fs.rmSync(ddOut, { force: true });
  const common = { bytes: logBytes, entries };
  console.log(
    `  cat log > /dev/null ${cat.toFixed(3)} s, dd log into a new file ${dd.toFixed(3)} s (${ddSync.toFixed(3)} s with conv=fsync), node start-up ${startup.toFixed(3)} s`,
  );

  const ours = ['node', path.join(ROOT, 'bin/replay-log.js')];
  const tools: [string, string[]][] = [['ours (cli)', ours]];
  if (fs.existsSync(UPSTREAM)) tools.push(['upstream C', [UPSTREAM]]);

  const find = ['--log', log, '--find', '--end-mark', LAST_MARK];
  const count = ['--log', log, '--num-entries'];
  for (const [name, cmd] of tools) {
    report({
      what: `find --end-mark last, ${name}`,
      seconds: timeRuns(() => run(cmd[0]!, [...cmd.slice(1), ...find])),
      base: cat,
      baseName: 'cat',
      ...common,
    });
  }
  report({
    what: 'find --end-mark last, ours (in-process)',
    seconds: await timeRunsAsync(() => inProcess(find)),
    base: cat,
    baseName: 'cat',
    ...common,
  });
  for (const [name, cmd] of tools) {
    report({
      what: `--num-entries, ${name}`,
      seconds: timeRuns(() => run(cmd[0]!, [...cmd.slice(1), ...count])),
      base: cat,
      baseName: 'cat',
      ...common,
    });
  }

  const replayArgs = (dev: string) => ['--log', log, '--replay', dev];
  for (const [name, cmd] of tools) {
    const s = timeRuns(
      () => run(cmd[0]!, [...cmd.slice(1), ...replayArgs(target)]),
      () => freshSparse(target),
    );
    report({ what: `replay onto a sparse file, ${name}`, seconds: s, base: dd, baseName: 'dd', ...common });
  }
  report({
    what: 'replay onto a sparse file, ours (in-process)',
    seconds: await timeRunsAsync(
      () => inProcess(replayArgs(target)),
      () => freshSparse(target),
    ),
    base: dd,
    baseName: 'dd',
    ...common,
  });
  fs.rmSync(target, { force: true });

  const backing = path.join(DIR, `${spec.name}.loop`);
  const dev = loopDevice(backing);
  if (typeof dev !== 'string') {
    console.log(`  replay onto a loop device: skipped, ${dev.skip}`);
    return;
  }
  try {
    for (const [name, cmd] of tools) {
      const s = timeRuns(
        () => run(cmd[0]!, [...cmd.slice(1), ...replayArgs(dev)]),
        () => resetLoop(dev),
      );
      report({ what: `replay onto a loop device, ${name}`, seconds: s, base: dd, baseName: 'dd', ...common });
    }
  } finally {
    dropLoop(dev, backing);
  }
}

try {
  if (!fs.existsSync(path.join(ROOT, 'dist/replay-log.cjs')))
    throw new Error('dist/replay-log.cjs is missing: run `npm run build` first');
  const startup = timeRuns(() => run('node', ['-e', '0']));
  console.log(`bench/replay: medians of ${RUNS} runs, page cache warm, in ${DIR}`);
  for (const spec of SPECS) if (!ONLY || ONLY === spec.name) await benchOne(spec, startup);
} finally {
  if (KEEP) console.log(`\nkept ${DIR}`);
  else fs.rmSync(DIR, { recursive: true, force: true });
}
