// The last-write plan in batches (src/replay/batches.ts) through the addon's io_uring and AIO
// writes (src/node/addon/runs.c) onto a real loop device: the device ends byte for byte as the
// sequential replay leaves an image, straight from the log's page cache and through memory,
// with overlapping writes, partial-page and whole-device discards, pieces larger than a
// window and logs of 512- and 4096-byte sectors. Bad rows and a log cut short under the
// mapping fail with an error, not a signal.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader } from '../src/reader.ts';
import { scanRange } from '../src/range.ts';
import { replayLastWrites } from '../src/replay/last-write.ts';
import type { ReplayTarget, RunWriter } from '../src/replay/loop.ts';
import { openSource } from '../src/node/io/file.ts';
import { loadNative } from '../src/node/io/native.ts';
import { openTarget } from '../src/node/io/target.ts';
import { scratchDir, zeroImage } from './support/fixtures.ts';
import { writeLog } from './support/planted.ts';

const dir = scratchDir('batches');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ROOT = path.resolve(import.meta.dirname, '..');
const DEVICE = 48 << 20;
const root = process.getuid?.() === 0;
const haveLoop = root && fs.existsSync('/dev/loop-control') && spawnSync('losetup', ['--version']).status === 0;
const native = loadNative();
const missing = !haveLoop
  ? root
    ? 'no loop devices (losetup or /dev/loop-control missing)'
    : 'needs root for losetup'
  : !native
    ? 'the native addon is not built (npm install builds it)'
    : undefined;

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** A log of ~40 MiB of payload (five windows and more) that overwrites, discards and writes large. */
async function randomLog(S: number, seed: number): Promise<string> {
  const random = seeded(seed);
  const sectors = DEVICE / S;
  const bytes = await writeLog(S, async (_w, io) => {
    await io({ kind: 'discard', sector: 0, nrSectors: sectors });
    for (let i = 0; i < 2500; i++) {
      const r = random();
      const n = r < 0.01 ? Math.ceil((3 << 20) / S) : 1 + Math.floor(random() * Math.max(1, (32 << 10) / S));
      // A third of the writes land in a small region, so that later ones overwrite earlier ones.
      const span = random() < 0.33 && n < (1 << 20) / S ? (1 << 20) / S : sectors;
      const sector = Math.floor(random() * (span - n));
      if (r > 0.97) {
        const discard = random() < 0.5 ? 1 + Math.floor(random() * 8) : n * 16;
        await io({ kind: 'discard', sector, nrSectors: Math.min(discard, sectors - sector) });
        continue;
      }
      const data = new Uint8Array(n * S).fill((i * 7 + 1) & 0xff);
      new DataView(data.buffer).setUint32(0, i, true);
      await io({ kind: 'write', sector, data: [data], fua: random() < 0.05 });
      if (random() < 0.02) await io({ kind: 'flush' });
    }
  });
  const file = path.join(dir, `random-${S}-${seed}.log`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** How many mappings of `file` this process has. */
const mappingsOf = (file: string) =>
  fs
    .readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${file}`)).length;

/** `fn` on a loop device over `file`, detached after. */
async function onLoop(file: string, fn: (dev: string) => Promise<void>): Promise<void> {
  const dev = spawnSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).stdout.trim();
  try {
    await fn(dev);
  } finally {
    spawnSync('losetup', ['-d', dev]);
  }
}

function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], { encoding: 'utf8', env });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

/** The sequential replay onto an image: the oracle. */
function sequential(log: string, name: string): Buffer {
  const img = zeroImage(dir, name, DEVICE);
  cli(['replay', log, img, '--plan', 'sequential', '--json']);
  return fs.readFileSync(img);
}

/** The last-write plan onto `target` through the library, with `runs` as the target has it or forced to read into memory. */
async function planOnto(log: string, target: ReplayTarget, stop = () => false) {
  const source = openSource(log);
  try {
    const reader = await LogReader.open(source);
    const range = await scanRange(reader, {}, true);
    return await replayLastWrites(reader, target, range.map!, stop);
  } finally {
    source.close();
  }
}

describe.skipIf(!!missing)('the last-write plan in batches onto a loop device', () => {
  for (const S of [512, 4096]) {
    it(`ends as the sequential replay does, from the log's page cache and through memory (${S}-byte sectors)`, async () => {
      const log = await randomLog(S, S);
      const want = sequential(log, `want-${S}.img`);
      const backing = zeroImage(dir, `dev-${S}.img`, DEVICE);
      fs.writeFileSync(backing, Buffer.alloc(DEVICE, 0x5a));
      await onLoop(backing, async (dev) => {
        // Through io_uring (where the kernel allows it), then through AIO.
        for (const env of [process.env, { ...process.env, LOGWRITES_NO_URING: '1' }]) {
          fs.writeFileSync(dev, Buffer.alloc(DEVICE, 0x5a));
          const out = JSON.parse(cli(['replay', log, dev, '--json'], env));
          expect(out.plan).toBe('last-write');
          expect(Buffer.compare(fs.readFileSync(dev), want)).toBe(0);
        }

        // Through the library, mapped: every batch (this log takes two or more, then its small
        // zeroed extents) writes from the one mapping the walk made, which the source's close
        // lets go of.
        fs.writeFileSync(dev, Buffer.alloc(DEVICE, 0xa5));
        const mapped = openTarget(dev, { direct: true });
        const logBytes = fs.statSync(log).size;
        const froms = new Set<ArrayBufferLike>();
        let batches = 0;
        const counted = {
          ...mapped.runs!,
          write: (...a: Parameters<RunWriter['write']>) => {
            batches++;
            if (a[0].length === logBytes) froms.add(a[0].buffer);
            expect(mappingsOf(log)).toBe(1);
            return mapped.runs!.write(...a);
          },
        };
        expect((await planOnto(log, { ...mapped, runs: counted })).complete).toBe(true);
        mapped.close();
        expect(batches).toBeGreaterThanOrEqual(3);
        expect(froms.size).toBe(1);
        expect(mappingsOf(log)).toBe(0);
        expect(Buffer.compare(fs.readFileSync(dev), want)).toBe(0);

        fs.writeFileSync(dev, Buffer.alloc(DEVICE, 0xa5));
        const target = openTarget(dev, { direct: true });
        const runs = target.runs!;
        expect(runs).toBeDefined();
        let reads = 0;
        const viaMemory = { ...target, runs: { ...runs, inPlace: () => (reads++, undefined) } };
        const r = await planOnto(log, viaMemory);
        target.close();
        expect(reads).toBe(1);
        expect(r.complete).toBe(true);
        expect(Buffer.compare(fs.readFileSync(dev), want)).toBe(0);
      });
    });
  }

  it('stops between windows (or batches) when asked, with every write it issued done', async () => {
    const log = await randomLog(512, 7);
    await onLoop(zeroImage(dir, 'dev-stop.img', DEVICE), async (dev) => {
      const target = openTarget(dev, { direct: true });
      // Through memory, whose windows (8 MiB) this log spans several of.
      const viaMemory = { ...target, runs: { ...target.runs!, inPlace: () => undefined } };
      let asked = 0;
      const r = await planOnto(log, viaMemory, () => ++asked > 2);
      target.close();
      expect(r.complete).toBe(false);
      expect(r.bytesWritten).toBeGreaterThan(0);
      expect(asked).toBe(3);
    });
  });

  it('fails with the error of a write, not a signal, when the log is cut short under its mapping', async () => {
    const log = await randomLog(512, 9);
    await onLoop(zeroImage(dir, 'dev-cut.img', DEVICE), async (dev) => {
      const source = openSource(log);
      const reader = await LogReader.open(source);
      const range = await scanRange(reader, {}, true);
      fs.truncateSync(log, 8192);
      const target = openTarget(dev, { direct: true });
      await expect(replayLastWrites(reader, target, range.map!)).rejects.toMatchObject({
        code: 'EFAULT',
        syscall: 'write',
      });
      target.close();
      source.close();
    });
  });

  it("refuses rows outside the memory, and reports the device's refusals as errnos", async () => {
    await onLoop(zeroImage(dir, 'dev-rows.img', 1 << 20), async (dev) => {
      const fd = fs.openSync(dev, fs.constants.O_WRONLY | fs.constants.O_DIRECT);
      const memory = new Uint8Array(new WebAssembly.Memory({ initial: 1 }).buffer);
      expect(() => native!.writeRuns(fd, memory, new Float64Array([0, 0, 1 << 17]), 1)).toThrow(TypeError);
      expect(() => native!.writeRuns(fd, memory, new Float64Array([0, 0.5, 512]), 1)).toThrow(TypeError);
      expect(() => native!.writeRuns(fd, memory, new Float64Array([0, 0, 512]), 2)).toThrow(TypeError);
      // Not on the device's blocks: O_DIRECT refuses it.
      expect(await native!.writeRuns(fd, memory, new Float64Array([1, 0, 512]), 1)).toBe(-22);
      // Past the device's end: the write comes up short, and the rest says why.
      expect(await native!.writeRuns(fd, memory, new Float64Array([(1 << 20) - 512, 0, 4096]), 1)).toBeLessThan(0);
      // 200 runs apart (more writes than are in flight at once), then 200 that continue one
      // another (gathered into vectored writes), in one call.
      memory.forEach((_, i) => (memory[i] = i % 251));
      const rows = new Float64Array(3 * 400);
      const at = (i: number) => (i < 200 ? i * 1024 : (1 << 19) + (i - 200) * 512);
      for (let i = 0; i < 400; i++) rows.set([at(i), (i % 100) * 512, 512], 3 * i);
      expect(await native!.writeRuns(fd, memory, rows, 400)).toBe(0);
      fs.closeSync(fd);
      const got = fs.readFileSync(dev);
      for (let i = 0; i < 400; i++) {
        const want = memory.subarray((i % 100) * 512, (i % 100) * 512 + 512);
        expect(Buffer.compare(got.subarray(at(i), at(i) + 512), want)).toBe(0);
      }
    });
  });
});

if (missing) {
  describe('the last-write plan in batches onto a loop device', () => {
    it.skip(`skipped: ${missing}`, () => {});
  });
}
