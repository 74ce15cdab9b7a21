// A full replay onto a raw block device: a generated log of random 4 KiB writes (1.1 GiB by
// default, a FLUSH every 64 writes, a mark every 4096) onto a 4 GiB loop device, by the C tool,
// replay-log and `logwrites replay`, against `dd oflag=direct` of as many bytes as the log's
// last-write plan writes (its unique bytes: the physical limit). Medians; the device is
// discarded whole between runs, so that each starts equal. Each row also gives what the device
// did (/sys/block/X/stat): its write requests and the time it was busy with them. Scattered
// writes cannot be fewer requests than the plan has runs, and a loop device copies each
// request on its own, so its busy time is the floor for those writes, above dd's.
//
//   REPLAY_LOG_C=/path/to/replay-log node bench/run.mjs raw [--mib 1152] [--runs 3] [--dir /dev/shm] [--unaligned]
//
// --unaligned puts the writes at any sector instead of on 4 KiB pages. Ours also runs with
// LOGWRITES_NO_DIRECT=1 ("page cache"), every write through the page cache, and replay-log
// with its entry index stored by an earlier call ("index kept"; the others keep none).
//
// --dir holds the loop device's backing file and the log: tmpfs by default, so that other
// jobs' disk traffic on a shared machine does not decide the figures (say which you ran).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateLog } from '../test/support/generate.ts';
import { attachLoop, resetLoop, workOf, type DeviceWork } from './loop-device.ts';
import { median, table } from './stats.ts';

const ROOT = process.cwd();
const argv = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : fallback;
};
const MIB = Number(opt('mib', '1152'));
const RUNS = Number(opt('runs', '3'));
const UNALIGNED = argv.includes('--unaligned');
const DIR = fs.mkdtempSync(
  path.join(opt('dir', fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()), 'logwrites-raw-'),
);
const DEVICE = 4 * 1024 ** 3;
const S = 512;
const WRITE = 4096;

/** Deterministic random 4 KiB slots over the device (with --unaligned, at any sector: most cover parts of two pages). */
function slots(): (i: number) => number {
  let x = 2463534242;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return UNALIGNED ? (x >>> 0) % (DEVICE / S - WRITE / S) : ((x >>> 0) % (DEVICE / WRITE)) * (WRITE / S);
  };
}

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { seconds: number; stdout: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { seconds: (performance.now() - t) / 1000, stdout: r.stdout };
}

const loop = attachLoop(DIR, 'raw', DEVICE);
try {
  if ('skip' in loop) {
    console.log(`bench/raw: skipped, ${loop.skip}`);
  } else {
    const log = path.join(DIR, 'random-4k.log');
    const writes = Math.round((MIB * 1024 * 1024) / (WRITE + S));
    const { entries } = generateLog(log, {
      sectorSize: S,
      writes,
      writeBytes: WRITE,
      sectorOf: slots(),
      flushEvery: 64,
      markEvery: 4096,
    });
    const logMiB = fs.statSync(log).size / 1048576;
    console.log(
      `bench/raw: ${writes} random 4 KiB writes${UNALIGNED ? ' at any sector' : ' on 4 KiB pages'}, ${entries} entries, ${logMiB.toFixed(0)} MiB log, onto a 4 GiB loop device over ${DIR}; medians of ${RUNS}; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const { NODE_EXTRA_CA_CERTS: _, ...bare } = process.env;
    const node = (
      bin: string,
      args: string[],
      env: NodeJS.ProcessEnv = bare,
    ): readonly [string, string[], NodeJS.ProcessEnv] => [
      process.execPath,
      [path.join(ROOT, 'bin', bin), ...args],
      env,
    ];
    // A full replay is usually a first call: no stored index (LOGWRITES_CACHE=off). The row
    // "index kept" has a cache of its own, filled by its first run, as repeated calls find it.
    const first = { ...bare, LOGWRITES_CACHE: 'off' };
    const kept = { ...bare, LOGWRITES_CACHE_DIR: path.join(DIR, 'cache') };
    const buffered = { ...first, LOGWRITES_NO_DIRECT: '1' };
    const tools: [string, readonly [string, string[], NodeJS.ProcessEnv]][] = [];
    const c = process.env.REPLAY_LOG_C;
    if (c && fs.existsSync(c)) tools.push(['C tool', [c, ['--log', log, '--replay', loop.dev], process.env]]);
    else console.log('REPLAY_LOG_C is not set (or missing): no C tool to compare with');
    tools.push(['replay-log', node('replay-log.js', ['--log', log, '--replay', loop.dev], first)]);
    tools.push(['replay-log, index kept', node('replay-log.js', ['--log', log, '--replay', loop.dev], kept)]);
    tools.push(['logwrites replay', node('logwrites.js', ['replay', log, loop.dev, '--json'])]);
    tools.push(['replay-log, page cache', node('replay-log.js', ['--log', log, '--replay', loop.dev], buffered)]);
    tools.push(['logwrites replay, page cache', node('logwrites.js', ['replay', log, loop.dev, '--json'], buffered)]);
    const times = new Map<string, number[]>();
    // What the loop device did in each run: its requests, and the time it was busy with them
    // (its one worker copies each request on its own, so scattered writes cost per request).
    const works = new Map<string, DeviceWork[]>();
    const timed = (name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv) => {
      resetLoop(loop);
      const { value, work } = workOf(loop.dev, () => time(cmd, args, env));
      times.set(name, [...(times.get(name) ?? []), value.seconds]);
      works.set(name, [...(works.get(name) ?? []), work]);
      return value;
    };
    let unique = 0;
    for (let r = 0; r < RUNS; r++) {
      for (const [name, [cmd, args, env]] of tools) {
        const t = timed(name, cmd, args, env);
        if (name === 'logwrites replay') unique = JSON.parse(t.stdout).bytesWritten;
      }
      const mib = Math.ceil(unique / 1048576);
      timed('dd oflag=direct', 'dd', [
        `if=${log}`,
        `of=${loop.dev}`,
        'bs=1M',
        `count=${mib}`,
        'oflag=direct',
        'status=none',
      ]);
    }
    const base = median(times.get('C tool') ?? times.get('dd oflag=direct')!);
    const dd = median(times.get('dd oflag=direct')!);
    const rows = [
      [
        '',
        'median s',
        'runs',
        `vs ${times.has('C tool') ? 'C tool' : 'dd'}`,
        'vs dd',
        'write requests',
        'device busy s',
      ],
    ];
    for (const [name, ts] of times) {
      const w = works.get(name)!;
      rows.push([
        name,
        median(ts).toFixed(2),
        ts.map((t) => t.toFixed(2)).join(' '),
        `${(median(ts) / base).toFixed(2)}x`,
        `${(median(ts) / dd).toFixed(2)}x`,
        String(median(w.map((x) => x.writes))),
        (median(w.map((x) => x.busyMs)) / 1000).toFixed(2),
      ]);
    }
    console.log(
      `unique bytes (the last-write plan's writes): ${(unique / 1048576).toFixed(0)} MiB; dd writes that many\n${table(rows)}`,
    );
    console.log(
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  }
} finally {
  if (!('skip' in loop)) loop.detach();
  fs.rmSync(DIR, { recursive: true, force: true });
}
