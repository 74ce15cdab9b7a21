// The fast paths of issue 12 against the sequential oracle: discards by the kernel's
// offloads (native addon) and by their fallbacks (util-linux tools, zero writes), replay-log's
// last-write plan, the last-write plan's page-aligned runs; on image files and on loop
// devices; with kernel logs and generated logs whose discards sit at odd offsets and lengths,
// at 512- and 4096-byte sectors. Targets start full of a pattern, so that a discard that does
// not zero shows.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flag } from '../src/format.ts';
import { kernelLog, manifest, ROOT, scratchDir, type KernelFixture } from './support/fixtures.ts';
import { generateDiscardLog } from './support/generate.ts';
import { describePath, discardZeroes } from '../src/node/io/device-info.ts';
import { oracleRead, oracleReplay } from './support/oracle.ts';

const dir = scratchDir('device-speed');
const loops: string[] = [];
afterAll(() => {
  for (const dev of loops) spawnSync('losetup', ['-d', dev]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const built = fs.existsSync(path.join(ROOT, 'dist/replay-log.cjs')) && fs.existsSync(path.join(ROOT, 'dist/cli.cjs'));
const addonBuilt = fs.existsSync(path.join(ROOT, 'dist/native.node'));

interface Case {
  name: string;
  log: string;
  size: number;
  /** Entries to replay to (inclusive): one in the middle at a FUA, and the last. */
  points: number[];
}

function pointsOf(log: string): number[] {
  const { entries } = oracleRead(log);
  const fuas = entries.filter((e) => e.flags & Flag.FUA).map((e) => e.index);
  return [fuas[Math.floor(fuas.length / 2)] ?? 0, entries.length - 1];
}

function kernelCase(name: KernelFixture): Case {
  const log = kernelLog(name);
  return { name, log, size: manifest(name).device_size, points: pointsOf(log) };
}

function generatedCase(S: number): Case {
  const log = path.join(dir, `discards-${S}.log`);
  const size = 8 << 20;
  generateDiscardLog(log, { sectorSize: S, deviceBytes: size, steps: 40, seed: S });
  return { name: `generated discards, sectorsize ${S}`, log, size, points: pointsOf(log) };
}

/** Every fourth byte says where it is, the rest 0x5a: nothing reads as zeros before the replay. */
function pattern(size: number): Buffer {
  const b = Buffer.alloc(size, 0x5a);
  for (let i = 0; i < size; i += 4096) b.writeUInt32LE(i / 4096 + 1, i);
  return b;
}

type Where = 'file' | 'loop';

/** A target holding `initial`: an image file, or a loop device over one (undefined when loop devices cannot be attached). */
function target(where: Where, name: string, initial: Buffer): string | undefined {
  const file = path.join(dir, `${name}.img`);
  fs.writeFileSync(file, initial);
  if (where === 'file') return file;
  const r = spawnSync('losetup', ['--find', '--show', file], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const dev = r.stdout.trim();
  loops.push(dev);
  return dev;
}

function detach(dev: string): void {
  spawnSync('losetup', ['-d', dev]);
  loops.splice(loops.indexOf(dev), 1);
}

function run(bin: 'replay-log' | 'logwrites', args: string[], addon: boolean): string {
  const env = { ...process.env, LOGWRITES_NO_ADDON: addon ? '' : '1' };
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', `${bin}.js`), ...args], { encoding: 'utf8', env });
  expect(r.status, `${bin} ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The ways a replay to entry `p` can run, each with the command line that runs it. */
const commands: {
  name: string;
  bin: 'replay-log' | 'logwrites';
  args: (log: string, dev: string, p: number) => string[];
}[] = [
  {
    name: 'replay-log -vv --limit (last-write plan, BLKDISCARD)',
    bin: 'replay-log',
    args: (log, dev, p) => ['-vv', '--log', log, '--replay', dev, '--limit', String(p + 1)],
  },
  {
    name: 'replay-log --check (sequential, BLKDISCARD)',
    bin: 'replay-log',
    args: (log, dev, p) => [
      '--log',
      log,
      '--replay',
      dev,
      '--limit',
      String(p + 1),
      '--check',
      '1000000',
      '--fsck',
      'true',
    ],
  },
  {
    name: 'logwrites replay --discard zero',
    bin: 'logwrites',
    args: (log, dev, p) => ['replay', log, dev, '--to', String(p), '--discard', 'zero'],
  },
  {
    name: 'logwrites replay --discard unmap',
    bin: 'logwrites',
    args: (log, dev, p) => ['replay', log, dev, '--to', String(p), '--discard', 'unmap'],
  },
  {
    name: 'logwrites replay --plan sequential --discard zero',
    bin: 'logwrites',
    args: (log, dev, p) => ['replay', log, dev, '--to', String(p), '--plan', 'sequential'],
  },
];

const cases: Case[] = [];
beforeAll(() => {
  if (!built) return;
  cases.push(
    kernelCase('ext4-512'),
    kernelCase('xfs-4k'),
    kernelCase('btrfs-512'),
    kernelCase('ext4-fsync-many'),
    generatedCase(512),
    generatedCase(4096),
  );
});

describe.skipIf(!built)(
  `every replay path gives the oracle's device bytes${built ? '' : ' (skipped: run npm run build first)'}`,
  () => {
    for (const where of ['file', 'loop'] as const) {
      for (const addon of [true, false]) {
        const how = addon
          ? addonBuilt
            ? 'native addon'
            : 'native addon missing: fallbacks'
          : 'fallbacks (LOGWRITES_NO_ADDON=1)';
        it(`onto ${where === 'file' ? 'an image file' : 'a loop device'}, ${how}`, () => {
          let skipped: string | undefined;
          for (const c of cases) {
            // Every log once (an image file, the addon); the other ways on one kernel log and the
            // generated ones, since they run the same code for the rest (and large devices are slow).
            if ((!addon || where === 'loop') && c.name !== 'ext4-512' && !c.name.startsWith('generated')) continue;
            const initial = pattern(c.size);
            for (const p of c.points) {
              const want = oracleReplay(c.log, c.size, p, initial);
              for (const cmd of commands) {
                const dev = target(where, `${where}-${addon}`, initial);
                if (!dev) {
                  skipped = 'losetup could not attach a loop device';
                  break;
                }
                try {
                  run(cmd.bin, cmd.args(c.log, dev, p), addon);
                  const got = fs.readFileSync(dev).subarray(0, c.size);
                  expect(got.equals(want), `${c.name}, entry ${p}, ${cmd.name}`).toBe(true);
                } finally {
                  if (where === 'loop') detach(dev);
                }
              }
            }
          }
          if (skipped) console.warn(`skipped: ${skipped}`);
        }, 600_000);
      }
    }
  },
);

it('knows that a loop device over a file zeros what it discards, and an image file is no device', () => {
  const dev = target('loop', 'discard-zeroes', Buffer.alloc(1 << 20));
  if (!dev) {
    console.warn('skipped: losetup could not attach a loop device');
    return;
  }
  try {
    expect(discardZeroes(describePath(dev)!)).toBe(true);
    expect(discardZeroes(describePath(path.join(dir, 'discard-zeroes.img'))!)).toBe(false);
  } finally {
    detach(dev);
  }
});

describe.skipIf(!built)('replay-log prints what upstream prints, whichever plan it writes by', () => {
  it('the -vv lines of the last-write plan equal those of the sequential replay', () => {
    const c = generatedCase(512);
    const p = c.points[1]!;
    const img = target('file', 'lines', pattern(c.size))!;
    const fast = run('replay-log', ['-vv', '--log', c.log, '--replay', img, '--limit', String(p + 1)], true);
    // --check with a period that never comes forces the sequential replay without a checker run.
    const slow = run(
      'replay-log',
      ['-vv', '--log', c.log, '--replay', img, '--limit', String(p + 1), '--check', '1000000', '--fsck', 'true'],
      true,
    );
    expect(fast.length).toBeGreaterThan(1000);
    expect(fast).toBe(slow);
  });
});
