// How fast explore checks crash states: stepping between states with the undo log against
// rebuilding each state from scratch, both with the trivial checker `true`, on the same log
// in the same run; and how many states fingerprint de-duplication spares the checker.
//
//   node bench/run.mjs explore [--runs 3] [--dir /tmp] [--epochs 1000] [--keep]
//
// The log: --epochs epochs of 64 writes of 4 KiB (sectorsize 512) over a 1 GiB device, a
// FLUSH after each epoch. Three writes in four land anywhere; one in four rewrites one of 16
// "metadata" blocks with one of two contents, as file systems rewrite bitmaps and journal
// superblocks, which is where equal states come from.
//
// States: for every epoch, 4 random states and the epoch complete (its FLUSH), so they are
// spread evenly over the log. Random states rarely coincide; de-duplication is reported for
// prefix + omit-one too (counted without checking), on this log and on a kernel ext4 log. From scratch, each state is rebuilt by the fastest plan we have
// (the last write of every sector, src/replay/last-write.ts) onto a fresh sparse image; that is slow
// enough that only a sample of the states is rebuilt, and its rate is what is compared. The
// ceiling for a checker-bound run is how fast this machine starts `/bin/sh -c true` at all.
//
// Then a real checker: `e2fsck -fn` on the kernel ext4 fixture (the states after mkfs), one
// checker at a time (one core), and where the time of such a run goes: generating and
// fingerprinting states, moving the working image, starting the checker, and e2fsck itself.
// Its ceiling is e2fsck alone, run again and again on one image; the C tool's figure is
// `replay-log --check flush --fsck 'e2fsck -fn'` ($REPLAY_LOG_C), beside ours at the same
// states (--strategy flush). `--only e2fsck` runs just this part.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Cursor,
  Explorer,
  materializeState,
  seededRandom,
  syncBytes,
  type Device,
  type Strategy,
} from '../src/explore/explorer.ts';
import { encodeHeader, encodeSuper, Flag } from '../src/format.ts';
import { loadKernels } from '../src/kernels/load.ts';
import { replayLastWrites } from '../src/replay/last-write.ts';
import { runCheck } from '../src/node/io/checker.ts';
import { exploreLog } from '../src/node/explore/runner.ts';
import { openSource } from '../src/node/io/file.ts';
import { openTarget } from '../src/node/io/target.ts';
import { scanRange } from '../src/range.ts';
import { LogReader } from '../src/reader.ts';
import { kernelLog } from '../test/support/fixtures.ts';

const S = 512;
const WRITE = 4096;
const PER_EPOCH = 64;
const DEVICE = 1024 ** 3;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const RUNS = Math.max(3, Number(arg('runs', '3')));
const ONLY = arg('only', '');
const EPOCHS = Number(arg('epochs', '1000'));
const DIR = fs.mkdtempSync(path.join(arg('dir', '/tmp'), 'logwrites-bench-explore-'));
const KEEP = process.argv.includes('--keep');
const SAMPLE = 24;

function generate(file: string): number {
  const random = seededRandom(42, 0);
  const fd = fs.openSync(file, 'w');
  let at = S;
  let entries = 0;
  let parts: Uint8Array[] = [];
  let pending = 0;
  const put = (b: Uint8Array) => {
    parts.push(b);
    pending += b.length;
    if (pending > 8 << 20) out();
  };
  const out = () => {
    fs.writevSync(fd, parts, at);
    at += pending;
    parts = [];
    pending = 0;
  };
  for (let e = 0; e < EPOCHS; e++) {
    for (let i = 0; i < PER_EPOCH; i++) {
      const hot = random() < 0.25;
      const block = hot ? Math.floor(random() * 16) : 16 + Math.floor(random() * (DEVICE / WRITE - 16));
      const data = new Uint8Array(WRITE);
      const view = new DataView(data.buffer);
      const version = hot ? Math.floor(random() * 2) : e * PER_EPOCH + i;
      for (let o = 0; o < WRITE; o += 8) view.setUint32(o, (block * 2654435761 + version * 40503 + o) >>> 0, true);
      put(encodeHeader({ sector: (block * WRITE) / S, nrSectors: WRITE / S, flags: hot ? Flag.METADATA : 0 }, S));
      put(data);
      entries++;
    }
    put(encodeHeader({ sector: 0, nrSectors: 0, flags: Flag.FLUSH }, S));
    entries++;
  }
  out();
  fs.writeSync(fd, encodeSuper({ nrEntries: entries, sectorSize: S }), 0, S, 0);
  fs.closeSync(fd);
  return entries;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));

const STRATEGIES: Strategy[] = [{ kind: 'random', states: 4, seed: 1 }];

/** Undo-based stepping with `true` as the checker: the real command path. */
async function undoRun(
  log: string,
  jobs: number,
): Promise<{ statesPerSecond: number; checkedPerSecond: number; generated: number; unique: number; checked: number }> {
  const image = path.join(DIR, 'work.img');
  const t = performance.now();
  const r = await exploreLog({ log, image, exec: 'true', jobs, strategies: STRATEGIES, selection: {}, size: DEVICE });
  const seconds = (performance.now() - t) / 1000;
  fs.rmSync(image, { force: true });
  return {
    statesPerSecond: r.summary.generated / seconds,
    checkedPerSecond: r.summary.checked / seconds,
    generated: r.summary.generated,
    unique: r.summary.unique,
    checked: r.summary.checked,
  };
}

/** The same states, stepping only (no checker): what the cursor itself costs, and the bytes it moves. */
async function steppingOnly(log: string): Promise<{ statesPerSecond: number; bytesPerState: number }> {
  const source = openSource(log);
  const reader = await LogReader.open(source);
  const image = path.join(DIR, 'step.img');
  fs.writeFileSync(image, '');
  fs.truncateSync(image, DEVICE);
  const fd = fs.openSync(image, 'r+');
  const img = syncBytes(openSource(image));
  const device: Device = {
    read: (offset, length) => img.read(offset, length),
    write: (offset, data) => void fs.writeSync(fd, data, 0, data.length, offset),
    zero: (offset, length) => void fs.writeSync(fd, new Uint8Array(length), 0, length, offset),
  };
  const explorer = await Explorer.open(reader, await loadKernels(), { strategies: STRATEGIES, selection: {} });
  let cursor: Cursor | undefined;
  let n = 0;
  const t = performance.now();
  for await (const s of explorer.states()) {
    cursor ??= new Cursor(device, syncBytes(source), S, s.epoch);
    cursor.goto(s.epoch, s.included);
    n++;
  }
  const seconds = (performance.now() - t) / 1000;
  const bytesPerState = (cursor?.bytesMoved ?? 0) / n;
  explorer.dispose();
  fs.closeSync(fd);
  source.close();
  fs.rmSync(image, { force: true });
  return { statesPerSecond: n / seconds, bytesPerState };
}

/** A sample of the same states, each rebuilt from scratch (last-write plan, fresh image) and checked with `true`. */
async function scratchRun(log: string, ids: string[]): Promise<number> {
  const source = openSource(log);
  const reader = await LogReader.open(source);
  const image = path.join(DIR, 'scratch.img');
  const t = performance.now();
  for (const id of ids) {
    fs.writeFileSync(image, '');
    fs.truncateSync(image, DEVICE);
    const target = openTarget(image);
    const state = await materializeState(reader, id);
    // No fsync: the checker reads through the page cache, and the undo path does not sync either.
    await replayLastWrites(reader, { ...target, sync: () => {} }, state.map);
    target.close();
    await runCheck('true', image, { env: { LOGWRITES_STATE: id } });
  }
  const seconds = (performance.now() - t) / 1000;
  source.close();
  fs.rmSync(image, { force: true });
  return ids.length / seconds;
}

/** The state ids of the run, and an even sample of them. */
async function stateIds(log: string): Promise<string[]> {
  const source = openSource(log);
  const explorer = await Explorer.open(await LogReader.open(source), await loadKernels(), {
    strategies: STRATEGIES,
    selection: {},
  });
  const ids: string[] = [];
  for await (const s of explorer.states()) ids.push(s.id);
  explorer.dispose();
  source.close();
  return ids;
}

function spawnRate(): number {
  const n = 300;
  const t = performance.now();
  for (let i = 0; i < n; i++) spawnSync('/bin/sh', ['-c', 'true']);
  return n / ((performance.now() - t) / 1000);
}

async function dedup(log: string, strategies: Strategy[]): Promise<{ generated: number; unique: number }> {
  const r = await exploreLog({ log, strategies, selection: {} });
  return { generated: r.summary.generated, unique: r.summary.unique };
}

const EXT4_SIZE = 64 << 20;
const AFTER_MKFS = { from: { mark: 'mkfs' } };
const E2FSCK = 'e2fsck -fn {image} >/dev/null 2>&1';

/** Seconds and counts of one run on the ext4 fixture after mkfs, one checker at a time. */
async function ext4Run(
  strategies: Strategy[],
  exec?: string,
): Promise<{ seconds: number; generated: number; unique: number; checked: number }> {
  const image = path.join(DIR, 'ext4.img');
  const t = performance.now();
  const r = await exploreLog({
    log: kernelLog('ext4-512'),
    strategies,
    selection: AFTER_MKFS,
    ...(exec ? { image, exec, size: EXT4_SIZE } : {}),
  });
  const seconds = (performance.now() - t) / 1000;
  fs.rmSync(image, { force: true });
  return { seconds, generated: r.summary.generated, unique: r.summary.unique, checked: r.summary.checked };
}

/** e2fsck alone: n checks of the state at the end of the log, nothing moved between them. */
async function e2fsckAlone(n: number): Promise<number> {
  const image = path.join(DIR, 'ext4-alone.img');
  const source = openSource(kernelLog('ext4-512'));
  const reader = await LogReader.open(source);
  fs.writeFileSync(image, '');
  fs.truncateSync(image, EXT4_SIZE);
  const target = openTarget(image);
  await replayLastWrites(reader, target, (await scanRange(reader, {}, true)).map!);
  target.close();
  source.close();
  const t = performance.now();
  for (let i = 0; i < n; i++) await runCheck(E2FSCK, image);
  fs.rmSync(image, { force: true });
  return n / ((performance.now() - t) / 1000);
}

/** The C tool checking at every FLUSH after mkfs: checks per second, or undefined without $REPLAY_LOG_C. */
function upstreamFlushChecks(): number | undefined {
  const tool = process.env.REPLAY_LOG_C;
  if (!tool) return undefined;
  const image = path.join(DIR, 'ext4-upstream.img');
  const counter = path.join(DIR, 'upstream-checks');
  fs.writeFileSync(image, '');
  fs.truncateSync(image, EXT4_SIZE);
  fs.writeFileSync(counter, '');
  const log = kernelLog('ext4-512');
  // Timed from the start, as ours is: the device up to mkfs, then a check at every FLUSH.
  const t = performance.now();
  spawnSync(tool, ['--log', log, '--replay', image, '--end-mark', 'mkfs']);
  const r = spawnSync(tool, [
    '--log',
    log,
    '--replay',
    image,
    '--start-mark',
    'mkfs',
    '--check',
    'flush',
    '--fsck',
    `e2fsck -fn ${image} >/dev/null 2>&1 && echo >> ${counter}`,
  ]);
  const seconds = (performance.now() - t) / 1000;
  const checks = fs.readFileSync(counter, 'utf8').length;
  fs.rmSync(image, { force: true });
  if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr}`);
  return checks / seconds;
}

async function ext4Bench(): Promise<void> {
  const strategies: Strategy[] = [{ kind: 'prefix' }, { kind: 'omit-one' }];
  const rows: Record<string, number[]> = {
    rate: [],
    count: [],
    moves: [],
    fsck: [],
    alone: [],
    flush: [],
    upstream: [],
  };
  let counts = { generated: 0, unique: 0, checked: 0 };
  for (let run = 0; run < RUNS; run++) {
    const count = await ext4Run(strategies);
    const trivial = await ext4Run(strategies, 'true');
    const fsck = await ext4Run(strategies, E2FSCK);
    const flush = await ext4Run([{ kind: 'flush' }], E2FSCK);
    const up = upstreamFlushChecks();
    counts = fsck;
    rows.rate!.push(fsck.checked / fsck.seconds);
    // Shares of the e2fsck run's time, each from the difference of two runs of the same states.
    rows.count!.push(count.seconds / fsck.seconds);
    rows.moves!.push((trivial.seconds - count.seconds) / fsck.seconds);
    rows.fsck!.push((fsck.seconds - trivial.seconds) / fsck.seconds);
    rows.alone!.push(await e2fsckAlone(Math.min(fsck.checked, 100)));
    rows.flush!.push(flush.checked / flush.seconds);
    if (up !== undefined) rows.upstream!.push(up);
    console.log(
      `run ${run + 1}: e2fsck -fn ${fmt(fsck.checked / fsck.seconds)} states/s (${fsck.checked} checked in ${fsck.seconds.toFixed(1)} s), e2fsck alone ${fmt(rows.alone!.at(-1)!)}/s, at each FLUSH ${fmt(flush.checked / flush.seconds)}/s${up !== undefined ? ` (C tool ${fmt(up)}/s)` : ''}`,
    );
  }
  const pct = (k: string) => `${(median(rows[k]!) * 100).toFixed(0)}%`;
  console.log(
    `\nmedians of ${RUNS} runs, kernel ext4-512 log after mkfs, prefix + omit-one, e2fsck -fn, one checker at a time:`,
  );
  console.log(
    `  checked                          ${fmt(median(rows.rate!))} states/s (${counts.generated} generated, ${counts.unique} unique, ${counts.checked} checked)`,
  );
  console.log(
    `  ceiling: e2fsck alone            ${fmt(median(rows.alone!))} checks/s on one unchanging image; explore at ${((median(rows.rate!) / median(rows.alone!)) * 100).toFixed(0)}% of it`,
  );
  console.log(
    `  time: generating + fingerprinting ${pct('count')}, moving the image + starting a checker (as \`true\`) ${pct('moves')}, e2fsck's own work ${pct('fsck')}`,
  );
  const up = rows.upstream!.length
    ? ` vs the C tool ${fmt(median(rows.upstream!))} checks/s (replay-log --check flush --fsck): ${fmt(median(rows.flush!) / median(rows.upstream!))}x`
    : ' (set REPLAY_LOG_C for the C tool)';
  console.log(`  at each FLUSH (--strategy flush) ${fmt(median(rows.flush!))} checks/s${up}`);
}

if (ONLY === 'e2fsck') {
  try {
    await ext4Bench();
  } finally {
    if (!KEEP) fs.rmSync(DIR, { recursive: true, force: true });
  }
  process.exit(0);
}

const log = path.join(DIR, 'explore.log');
try {
  const t = performance.now();
  const entries = generate(log);
  console.log(
    `log: ${EPOCHS} epochs x ${PER_EPOCH} writes of ${WRITE} B (${entries} entries, ${(fs.statSync(log).size / 1048576).toFixed(0)} MiB), generated in ${((performance.now() - t) / 1000).toFixed(1)} s; kernels: ${(await loadKernels()).kind}`,
  );
  const ids = await stateIds(log);
  const sample = Array.from({ length: SAMPLE }, (_, i) => ids[Math.floor(((i + 0.5) * ids.length) / SAMPLE)]!);
  console.log(
    `states: ${ids.length} (4 random per epoch + each FLUSH); from-scratch sample: ${SAMPLE} states spread evenly`,
  );

  const rows: Record<string, number[]> = {
    undo1: [],
    undo2: [],
    checked1: [],
    step: [],
    scratch: [],
    spawn: [],
    bytes: [],
    ratio: [],
  };
  let counts = { generated: 0, unique: 0, checked: 0 };
  for (let run = 0; run < RUNS; run++) {
    const u1 = await undoRun(log, 1);
    const u2 = await undoRun(log, 2);
    const st = await steppingOnly(log);
    const sc = await scratchRun(log, sample);
    const sp = spawnRate();
    counts = u1;
    rows.undo1!.push(u1.statesPerSecond);
    rows.checked1!.push(u1.checkedPerSecond);
    rows.undo2!.push(u2.statesPerSecond);
    rows.step!.push(st.statesPerSecond);
    rows.bytes!.push(st.bytesPerState);
    rows.scratch!.push(sc);
    rows.spawn!.push(sp);
    // The ratio within one run: on a shared machine the load drifts between runs more than within one.
    rows.ratio!.push(u1.statesPerSecond / sc);
    console.log(
      `run ${run + 1}: undo ${fmt(u1.statesPerSecond)} states/s (jobs 2: ${fmt(u2.statesPerSecond)}), stepping only ${fmt(st.statesPerSecond)} states/s, from scratch ${fmt(sc)} states/s, sh -c true ${fmt(sp)}/s`,
    );
  }
  const undo = median(rows.undo1!);
  console.log(`\nmedians of ${RUNS} runs, checker \`true\`:`);
  console.log(
    `  undo-based stepping, --jobs 1   ${fmt(undo)} states/s (${fmt(median(rows.checked1!))} checks/s: ${counts.generated} generated, ${counts.unique} unique, ${counts.checked} checked)`,
  );
  console.log(`  undo-based stepping, --jobs 2   ${fmt(median(rows.undo2!))} states/s`);
  console.log(
    `  rebuilt from scratch per state  ${fmt(median(rows.scratch!))} states/s (last-write plan, fresh sparse image)`,
  );
  console.log(
    `  ratio undo / from scratch       ${fmt(median(rows.ratio!))}x (median of the per-run ratios; target >= 50x)`,
  );
  console.log(
    `  stepping alone (no checker)     ${fmt(median(rows.step!))} states/s, ${fmt(median(rows.bytes!) / 1024)} KiB moved per state`,
  );
  console.log(
    `  ceiling: sh -c true             ${fmt(median(rows.spawn!))}/s; checks/s at ${((median(rows.checked1!) / median(rows.spawn!)) * 100).toFixed(0)}% of it`,
  );
  console.log(
    `  de-duplication                  ${((1 - counts.unique / counts.generated) * 100).toFixed(1)}% of states skipped`,
  );

  const everyOrder: Strategy[] = [{ kind: 'prefix' }, { kind: 'omit-one' }];
  const pct = (d: { generated: number; unique: number }) =>
    `${((1 - d.unique / d.generated) * 100).toFixed(1)}% of ${d.generated}`;
  console.log(
    `  de-duplication, prefix + omit-one: this log ${pct(await dedup(log, everyOrder))}, kernel ext4-512 log ${pct(await dedup(kernelLog('ext4-512'), everyOrder))} skipped`,
  );
  console.log('');
  await ext4Bench();
} finally {
  if (!KEEP) fs.rmSync(DIR, { recursive: true, force: true });
}
