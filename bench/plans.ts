// Replay to the last mark by the two plans, on a log that rewrites every sector ~10 times:
// `--plan last-write` (only the final version of each sector) against `--plan sequential`
// (entry by entry), and both against `dd` of the same bytes measured in the same run.
//
//   node bench/run.mjs plans [--runs 5] [--dir /tmp] [--device-mib 128] [--rewrites 10]

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { replayCommand } from '../src/cli/replay.ts';
import { generateLog } from '../test/support/generate.ts';

function arg(name: string, fallback: number | string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : String(fallback);
}
const RUNS = Number(arg('runs', 5));
const DEVICE = Number(arg('device-mib', 128)) << 20;
const REWRITES = Number(arg('rewrites', 10));
const WRITE = 64 << 10;
const S = 512;
const MiB = 1 << 20;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}
async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

const dir = fs.mkdtempSync(path.join(arg('dir', '/tmp'), 'logwrites-plans-'));
try {
  const log = path.join(dir, 'log.img');
  const slots = DEVICE / WRITE;
  const writes = slots * REWRITES;
  // A fixed permutation-ish walk: each round visits every slot once, in a scrambled order.
  generateLog(log, {
    sectorSize: S,
    writes,
    writeBytes: WRITE,
    sectorOf: (i) => (((i % slots) * 40503) % slots) * (WRITE / S),
    flushEvery: 64,
    markEvery: writes,
  });
  const logBytes = fs.statSync(log).size;
  const payload = writes * WRITE;
  execFileSync('cat', [log], { stdio: ['ignore', 'ignore', 'ignore'] }); // warm the page cache
  const img = path.join(dir, 'disk.img');
  const fresh = () => {
    fs.rmSync(img, { force: true });
    fs.writeFileSync(img, '');
    fs.truncateSync(img, DEVICE);
  };
  const t = {
    lastWrite: [] as number[],
    sequential: [] as number[],
    ddPayload: [] as number[],
    ddDevice: [] as number[],
  };
  for (let r = 0; r < RUNS; r++) {
    fresh();
    t.lastWrite.push(
      await timeAsync(() =>
        replayCommand(log, img, { discard: 'zero', plan: 'last-write', to: { mark: `m${writes}` } }),
      ),
    );
    fresh();
    t.sequential.push(
      await timeAsync(() =>
        replayCommand(log, img, { discard: 'zero', plan: 'sequential', to: { mark: `m${writes}` } }),
      ),
    );
    fs.rmSync(img);
    t.ddPayload.push(
      time(() =>
        execFileSync('dd', [`if=${log}`, `of=${img}`, 'bs=1M', `count=${payload / MiB}`, 'conv=fsync'], {
          stdio: 'ignore',
        }),
      ),
    );
    fs.rmSync(img);
    t.ddDevice.push(
      time(() =>
        execFileSync('dd', [`if=${log}`, `of=${img}`, 'bs=1M', `count=${DEVICE / MiB}`, 'conv=fsync'], {
          stdio: 'ignore',
        }),
      ),
    );
  }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)])) as Record<keyof typeof t, number>;
  console.log(
    `log: ${(logBytes / MiB).toFixed(0)} MiB, ${writes} writes of ${WRITE / 1024} KiB over a ${DEVICE / MiB} MiB device (each sector written ${REWRITES} times); medians of ${RUNS} runs`,
  );
  const row = (name: string, secs: number, bytes: number) =>
    console.log(
      `${name.padEnd(34)} ${secs.toFixed(3).padStart(7)} s  ${(bytes / MiB / secs).toFixed(0).padStart(6)} MiB/s of log payload`,
    );
  row('replay --plan last-write', m.lastWrite, payload);
  row('replay --plan sequential', m.sequential, payload);
  row('dd of the payload bytes (fsync)', m.ddPayload, payload);
  row('dd of the device bytes (fsync)', m.ddDevice, payload);
  console.log(`sequential / last-write: ${(m.sequential / m.lastWrite).toFixed(1)}x (target >= 3x)`);
  console.log(
    `last-write / dd of the device's bytes: ${(m.lastWrite / m.ddDevice).toFixed(2)}x; sequential / dd of the payload: ${(m.sequential / m.ddPayload).toFixed(2)}x`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
