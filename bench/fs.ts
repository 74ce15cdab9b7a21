// What `--fs` costs: annotating every entry of the kernel's ext4-fsync-many log (5212
// entries, 11 states built: one per mark and the end) against one replay of the same log
// onto an image, in-process, from the same page-cached log; and the physical floor, reading
// the log once (`cat log > /dev/null`). The C replay-log is timed too when REPLAY_LOG_C
// names it (a CLI run, so its process start is included).
//
//   node bench/run.mjs fs [--runs 5]

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { annotateEntries } from '../src/fs/log-state.ts';
import { openSource } from '../src/node/io/file.ts';
import { openTarget } from '../src/node/io/target.ts';
import { replayLastWrites } from '../src/replay/last-write.ts';
import { scanRange } from '../src/range.ts';
import { LogReader, type Entry } from '../src/reader.ts';
import { replay } from '../src/replay/loop.ts';

const ROOT = process.cwd();
const FIXTURE = path.join(ROOT, 'test/fixtures/kernel/ext4-fsync-many');
const i = process.argv.indexOf('--runs');
const RUNS = Math.max(3, i >= 0 ? Number(process.argv[i + 1]) : 5);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logwrites-bench-fs-'));
const log = path.join(dir, 'log.img');
fs.writeFileSync(log, zlib.gunzipSync(fs.readFileSync(path.join(FIXTURE, 'log.img.gz'))));
const size = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'manifest.json'), 'utf8')).device_size as number;
const img = path.join(dir, 'disk.img');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
/** Wall-clock ms, and this process's CPU ms (user + system; steadier on a shared machine). */
async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  const c = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(c);
  cpu.set(fn, (used.user + used.system) / 1000);
  return performance.now() - t;
}
const cpu = new Map<unknown, number>();
const cpuOf = (fn: unknown) => cpu.get(fn)!;

async function annotateAll(): Promise<{ entries: number; states: number; pieces: number }> {
  const source = openSource(log);
  try {
    const reader = await LogReader.open(source);
    const all: Entry[] = [];
    for await (const e of reader.entries()) all.push(e);
    let states = 0;
    let pieces = 0;
    let entries = 0;
    for await (const a of annotateEntries(reader, all, { built: () => states++ })) {
      entries++;
      pieces += a.pieces.length;
    }
    return { entries, states, pieces };
  } finally {
    source.close();
  }
}

/** One replay onto a fresh sparse image: by the default plan (last write) or entry by entry. */
function freshImage(): void {
  fs.writeFileSync(img, '');
  fs.truncateSync(img, size);
}

async function replayOnce(plan: 'last-write' | 'sequential'): Promise<void> {
  freshImage();
  const source = openSource(log);
  const target = openTarget(img);
  try {
    const reader = await LogReader.open(source);
    if (plan === 'sequential') await replay(reader, target);
    else await replayLastWrites(reader, target, (await scanRange(reader, {}, true)).map!);
  } finally {
    target.close();
    source.close();
  }
}

function cReplay(tool: string): void {
  freshImage();
  spawnSync(tool, ['--log', log, '--replay', img]);
}

const ours: number[] = [];
const rep: number[] = [];
const seq: number[] = [];
const oursCpu: number[] = [];
const repCpu: number[] = [];
const seqCpu: number[] = [];
const cat: number[] = [];
const c: number[] = [];
let shape = { entries: 0, states: 0, pieces: 0 };
const C = process.env.REPLAY_LOG_C;
const WARMUP = 3; // JIT tiers settle over a few runs
for (let r = 0; r < RUNS + WARMUP; r++) {
  const fa = async () => (shape = await annotateAll());
  const fb = () => replayOnce('last-write');
  const fq = () => replayOnce('sequential');
  const a = await time(fa);
  const b = await time(fb);
  const q = await time(fq);
  const k = await time(() => spawnSync('/bin/sh', ['-c', `cat ${log} > /dev/null`]));
  const x = C ? await time(() => cReplay(C)) : NaN;
  if (process.argv.includes('--verbose'))
    console.log(`run ${r}: annotate ${a.toFixed(0)} ms, replay ${b.toFixed(0)} / ${q.toFixed(0)} ms`);
  if (r < WARMUP) continue;
  ours.push(a);
  rep.push(b);
  seq.push(q);
  oursCpu.push(cpuOf(fa));
  repCpu.push(cpuOf(fb));
  seqCpu.push(cpuOf(fq));
  cat.push(k);
  c.push(x);
}
const ms = (x: number) => `${x.toFixed(1)} ms`;
console.log(
  `ext4-fsync-many: ${shape.entries} entries annotated (${shape.pieces} answers) in ${shape.states} states; medians of ${RUNS} runs`,
);
const row = (what: string, wall: number[], cpus: number[]) =>
  `${what.padEnd(30)}${ms(median(wall)).padStart(10)} wall ${ms(median(cpus)).padStart(10)} cpu` +
  (wall === ours
    ? ''
    : `   annotate/replay ${(median(ours) / median(wall)).toFixed(2)} wall, ${(median(oursCpu) / median(cpus)).toFixed(2)} cpu`);
console.log(row('annotate every entry (--fs)', ours, oursCpu));
console.log(row('one replay, last-write plan', rep, repCpu));
console.log(row('one replay, sequential plan', seq, seqCpu));
if (C)
  console.log(
    `${'one replay, C replay-log (CLI)'.padEnd(30)}${ms(median(c)).padStart(10)} wall   annotate/C ${(median(ours) / median(c)).toFixed(2)} wall`,
  );
else console.log('one replay (C replay-log)     not timed: set REPLAY_LOG_C to its path');
console.log(`cat log > /dev/null (floor)   ${ms(median(cat))} (includes a process start)`);
fs.rmSync(dir, { recursive: true, force: true });
