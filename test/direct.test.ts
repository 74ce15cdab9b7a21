// O_DIRECT writes with several in flight (src/node/io/direct.ts) leave a loop device as the
// same writes in order would: overlapping writes wait for the ones before them. Checked
// against an in-memory model over thousands of random, overlapping, aligned writes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectWriter } from '../src/node/io/direct.ts';
import { openTarget } from '../src/node/io/target.ts';
import { scratchDir } from './support/fixtures.ts';

const dir = scratchDir('direct');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SIZE = 16 << 20;
const HOT = 256 << 10;
const root = process.getuid?.() === 0;
const haveLoop = root && fs.existsSync('/dev/loop-control') && spawnSync('losetup', ['--version']).status === 0;

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe.skipIf(!haveLoop)('DirectWriter on a loop device', () => {
  it('ends as in-order writes would, with overlaps, unaligned writes and zeroing between them', async () => {
    const file = path.join(dir, 'dev.img');
    fs.writeFileSync(file, Buffer.alloc(SIZE, 0x5a));
    const dev = spawnSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).stdout.trim();
    try {
      const model = Buffer.alloc(SIZE, 0x5a);
      const target = openTarget(dev, { direct: true });
      const random = seeded(482);
      let aligned = 0;
      for (let i = 0; i < 3000; i++) {
        const unaligned = random() < 0.05;
        const length = unaligned ? 1 + Math.floor(random() * 3000) : 512 * (1 + Math.floor(random() * 64));
        // Half of the writes go to one small region, so that writes in flight overlap often.
        const span = random() < 0.5 ? HOT : SIZE;
        const at = unaligned
          ? Math.floor(random() * (span - length))
          : 512 * Math.floor(random() * ((span - length) / 512));
        if (random() < 0.03) {
          await target.zero(at, length);
          model.fill(0, at, at + length);
          continue;
        }
        const data = Buffer.alloc(length, i & 0xff);
        data.writeUInt32LE(i, 0);
        // Split in parts, as the replay's runs are.
        const cut = Math.floor(length / 2);
        await target.write(at, [data.subarray(0, cut), data.subarray(cut)]);
        data.copy(model, at);
        if (!unaligned) aligned++;
      }
      // A large write and then a small one inside it: the small one, if it did not wait, would
      // often land first and be overwritten.
      for (let i = 0; i < 40; i++) {
        const big = Buffer.alloc(8 << 20, 0x10 + i);
        const at = 512 * Math.floor(random() * ((SIZE - big.length) / 512));
        await target.write(at, [big]);
        big.copy(model, at);
        const small = Buffer.alloc(4096, 0xa0 + i);
        const inside = at + 512 * Math.floor(random() * ((big.length - small.length) / 512));
        await target.write(inside, [small]);
        small.copy(model, inside);
      }
      await target.sync();
      target.close();
      expect(aligned).toBeGreaterThan(2500);
      expect(Buffer.compare(fs.readFileSync(dev), model)).toBe(0);
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
  });

  it('is not offered for a regular file', () => {
    const file = path.join(dir, 'plain.img');
    fs.writeFileSync(file, Buffer.alloc(4096));
    const t = openTarget(file, { direct: true });
    expect(DirectWriter.open(file, t.info)).toBeUndefined();
    t.close();
  });
});

if (!haveLoop) {
  describe('DirectWriter on a loop device', () => {
    it.skip(`skipped: ${root ? 'no loop devices (losetup or /dev/loop-control missing)' : 'needs root for losetup'}`, () => {});
  });
}
