// The entry index replay-log keeps between calls (src/node/io/index-cache.ts) is never
// stale: between two calls the log is rewritten in place, truncated, extended or replaced,
// with its size and mtime forged back where that can be done, and every answer follows the
// log, equal to a walk without the cache. On a regular file and on a loop device.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelLog, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { replayLog } from './support/run.ts';

const dir = scratchDir('index-cache');
const cache = path.join(dir, 'cache');
process.env.LOGWRITES_CACHE_DIR = cache;
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file the kernel stamps now is not trusted for this long (log-identity.ts's RACY_NS). */
const SETTLE_MS = 3100;
const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

const CALLS = [
  ['--find', '--end-mark', 'mkfs'],
  ['--find', '--next-fua', '--start-entry', '2600'],
  ['--find', '--next-flush', '--start-entry', '5000'],
  ['--find', '--limit', '7', '--start-entry', '4000', '-vv'],
  ['--find', '--end-mark', 'batch9'],
  ['--find', '--start-mark', 'batch3', '--next-fua'],
  ['--find', '--end-mark', 'no such mark'],
];

/** Every call's output over `log`, with the cache and without it (they must agree). */
async function answers(log: string) {
  const out = [];
  for (const args of CALLS) out.push(await replayLog('--log', log, ...args));
  return out;
}
async function walked(log: string) {
  process.env.LOGWRITES_CACHE = 'off';
  try {
    return await answers(log);
  } finally {
    delete process.env.LOGWRITES_CACHE;
  }
}
const stored = () => (fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.endsWith('.index')) : []);

/** The header offset of entry `i`, from replay-log's own answer for entry i - 1 (index@where the next entry starts). */
async function headerOffset(log: string, i: number) {
  const r = await replayLog('--log', log, '--find', '--limit', '1', '--start-entry', String(i - 1));
  const [, sector] = r.stdout.trim().split('@').map(Number);
  return sector! * 512;
}
/**
 * Set the FUA bit (2, in the flags field at byte 16 of the header) of entry `i` in place.
 * The descriptor is returned open: the last close of a block device writes its dirty pages
 * back, and the write must still be in the page cache when the next call looks.
 */
async function addFua(log: string, i: number): Promise<number> {
  const fd = fs.openSync(log, 'r+');
  const at = (await headerOffset(log, i)) + 16;
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0]! |= 0x02;
  fs.writeSync(fd, b, 0, 1, at);
  return fd;
}
const forgeTimes = (file: string, st: fs.Stats) => fs.utimesSync(file, st.atime, st.mtime);

describe('on a regular file', () => {
  const log = path.join(dir, 'log.img');
  beforeAll(async () => {
    fs.copyFileSync(kernelLog('ext4-fsync-many'), log);
    await settle();
  });

  it('stores the index at the first call and answers as a walk does', async () => {
    const first = await answers(log);
    expect(stored()).toHaveLength(1);
    expect(await answers(log)).toEqual(first);
    expect(first).toEqual(await walked(log));
    expect(first[1]!.stdout).toBe('2607@24907\n');
  });

  it('reads a stored file again once it changed, though this process holds it decoded', async () => {
    const first = await answers(log);
    const [name] = stored();
    const file = path.join(cache, name!);
    const st = fs.statSync(file);
    // Garbage of the same size, in place, its mtime forged back: only the ctime tells.
    fs.writeFileSync(file, Buffer.alloc(st.size, 0x55));
    forgeTimes(file, st);
    expect(await answers(log)).toEqual(first);
    // Read, found to be no index, and stored again by the walk.
    expect(fs.readFileSync(file).subarray(0, 8).toString()).toBe('LWINDEX1');
  });

  it('follows a rewrite in place of the same size with the mtime forged back', async () => {
    const st = fs.statSync(log);
    await answers(log);
    fs.closeSync(await addFua(log, 2601));
    forgeTimes(log, st);
    // At once (the change is within the racy window) and once the stamps have settled.
    const now = await answers(log);
    expect(now[1]!.stdout).toMatch(/^2601@/);
    expect(now).toEqual(await walked(log));
    await settle();
    expect(await answers(log)).toEqual(now);
  });

  it('follows a truncation and an extension', async () => {
    const st = fs.statSync(log);
    fs.truncateSync(log, st.size - 4096);
    forgeTimes(log, st);
    const cut = await answers(log);
    expect(cut).toEqual(await walked(log));
    fs.truncateSync(log, st.size + 4096);
    const grown = await answers(log);
    expect(grown).toEqual(await walked(log));
    expect(grown).not.toEqual(cut);
  });

  it('follows a log replaced by another of the same size and mtime', async () => {
    const st = fs.statSync(log);
    const other = path.join(dir, 'other.img');
    fs.copyFileSync(kernelLog('ext4-fsync-many'), other);
    fs.truncateSync(other, st.size);
    forgeTimes(other, st);
    fs.renameSync(other, log);
    await settle();
    const replaced = await answers(log);
    expect(replaced).toEqual(await walked(log));
    expect(replaced[1]!.stdout).toBe('2607@24907\n');
  });

  it('replays the same bytes with the stored index as without it', async () => {
    await answers(log);
    const a = zeroImage(dir, 'a.img', 64 << 20);
    const b = zeroImage(dir, 'b.img', 64 << 20);
    expect((await replayLog('-vv', '--log', log, '--replay', a, '--limit', '3000')).status).toBe(0);
    process.env.LOGWRITES_CACHE = 'off';
    try {
      expect((await replayLog('-vv', '--log', log, '--replay', b, '--limit', '3000')).status).toBe(0);
    } finally {
      delete process.env.LOGWRITES_CACHE;
    }
    expect(sha256File(a)).toBe(sha256File(b));
  });

  it('keeps at most 32 stored indexes, and removes no file of other names', async () => {
    fs.rmSync(cache, { recursive: true, force: true });
    fs.mkdirSync(cache);
    for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(cache, `file-1-${i}.index`), '');
    fs.writeFileSync(path.join(cache, 'notes.index'), "the user's");
    await answers(log);
    expect(stored().filter((f) => f !== 'notes.index')).toHaveLength(32);
    expect(fs.readFileSync(path.join(cache, 'notes.index'), 'utf8')).toBe("the user's");
  });

  it('writes nothing with LOGWRITES_CACHE=off', async () => {
    fs.rmSync(cache, { recursive: true, force: true });
    await walked(log);
    expect(fs.existsSync(cache)).toBe(false);
  });
});

const root = process.getuid?.() === 0;
const haveLoop = root && fs.existsSync('/dev/loop-control') && spawnSync('losetup', ['--version']).status === 0;

describe.skipIf(!haveLoop)('on a loop device', () => {
  let dev = '';
  const backing = path.join(dir, 'loop-log.img');
  beforeAll(async () => {
    fs.copyFileSync(kernelLog('ext4-fsync-many'), backing);
    await settle();
    dev = spawnSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).stdout.trim();
  });
  afterAll(() => {
    if (dev) spawnSync('losetup', ['-d', dev]);
  });

  it('stores the index by device and answers as a walk does', async () => {
    const first = await answers(dev);
    expect(stored().some((f) => f.startsWith('dev-'))).toBe(true);
    expect(await answers(dev)).toEqual(first);
    expect(first).toEqual(await walked(dev));
  });

  it('follows a buffered write through the device, not yet flushed', async () => {
    await answers(dev);
    const fd = await addFua(dev, 2601);
    try {
      const now = await answers(dev);
      expect(now[1]!.stdout.startsWith('2601@')).toBe(true);
      expect(now).toEqual(await walked(dev));
    } finally {
      fs.closeSync(fd);
    }
  });

  it('follows a write to the backing file behind the device', async () => {
    await answers(dev);
    fs.closeSync(await addFua(backing, 2602));
    // The loop device's own page cache may still hold the old sector: drop it, as any reader would need.
    spawnSync('blockdev', ['--flushbufs', dev]);
    const now = await answers(dev);
    expect(now).toEqual(await walked(dev));
  });
});

if (!haveLoop) {
  describe('on a loop device', () => {
    it.skip(`skipped: ${root ? 'no loop devices (losetup or /dev/loop-control missing)' : 'needs root for losetup'}`, () => {});
  });
}
