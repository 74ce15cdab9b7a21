// Replay refuses a target that shares a disk with the log where it would write over it: first
// on made-up sysfs trees (every layout, no root needed), then on real loop devices with real
// partitions through `logwrites replay`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { majorMinor, type DeviceInfo } from '../../src/node/io/device-info.ts';
import { sharedDeviceHazard } from '../../src/node/io/devices.ts';
import { scratchDir } from '../support/fixtures.ts';
import { writerLog } from './bases.ts';
import { builtBins, runBin } from './hostile.ts';

const dir = scratchDir('devices');
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface FakeDevice {
  name: string;
  minor: number;
  /** In 512-byte sectors. */
  size: number;
  /** A partition: its disk and first sector. */
  of?: string;
  start?: number;
  slaves?: string[];
  backing?: string;
}

/** A sysfs tree with these devices (major 8), as the kernel lays it out. */
function fakeSys(devs: FakeDevice[]): { sys: string; info: (name: string) => DeviceInfo } {
  const sys = fs.mkdtempSync(path.join(dir, 'sys-'));
  const dirOf = (d: FakeDevice) => path.join(sys, 'devices/virtual/block', ...(d.of ? [d.of, d.name] : [d.name]));
  fs.mkdirSync(path.join(sys, 'dev/block'), { recursive: true });
  for (const d of devs) {
    const at = dirOf(d);
    fs.mkdirSync(path.join(at, 'slaves'), { recursive: true });
    fs.writeFileSync(path.join(at, 'size'), `${d.size}\n`);
    if (d.of) {
      fs.writeFileSync(path.join(at, 'partition'), '1\n');
      fs.writeFileSync(path.join(at, 'start'), `${d.start}\n`);
    }
    if (d.backing) {
      fs.mkdirSync(path.join(at, 'loop'));
      fs.writeFileSync(path.join(at, 'loop/backing_file'), `${d.backing}\n`);
    }
    fs.symlinkSync(at, path.join(sys, 'dev/block', `8:${d.minor}`));
  }
  for (const d of devs)
    for (const s of d.slaves ?? [])
      fs.symlinkSync(dirOf(devs.find((x) => x.name === s)!), path.join(dirOf(d), 'slaves', s));
  const info = (name: string): DeviceInfo => {
    const d = devs.find((x) => x.name === name)!;
    return { isBlockDevice: true, size: d.size * 512, dev: 5, ino: 100 + d.minor, rdev: 8 * 256 + d.minor };
  };
  return { sys, info };
}

describe('sharedDeviceHazard on sysfs layouts', () => {
  const MiB = 1 << 20;
  const { sys, info } = fakeSys([
    { name: 'sda', minor: 0, size: 20480 },
    { name: 'sda1', minor: 1, size: 4096, of: 'sda', start: 2048 },
    { name: 'sda2', minor: 2, size: 8192, of: 'sda', start: 6144 },
    // A forged table: sda3 overlaps sda2.
    { name: 'sda3', minor: 3, size: 4096, of: 'sda', start: 12288 },
    { name: 'sdb', minor: 16, size: 20480 },
    { name: 'dm-0', minor: 32, size: 8192, slaves: ['sda2'] },
    { name: 'md0', minor: 48, size: 8192, slaves: ['sdb', 'sda1'] },
  ]);
  const hazard = (target: string, log: string | DeviceInfo, writeEnd: number) =>
    sharedDeviceHazard(`/dev/${target}`, info(target), typeof log === 'string' ? info(log) : log, writeEnd, sys);

  it('dev_t splits as glibc does', () => {
    expect(majorMinor(8 * 256 + 1)).toBe('8:1');
    // minor 300 of major 259: the high minor bits live above bit 20.
    expect(majorMinor((259 << 8) | (300 & 0xff) | ((300 >> 8) << 20))).toBe('259:300');
  });

  it('a whole-disk target is refused only when the replay reaches the log partition', () => {
    expect(hazard('sda', 'sda2', 3 * MiB - 1)).toBeUndefined();
    expect(hazard('sda', 'sda2', 3 * MiB + 512)).toBe(
      '/dev/sda and the log share disk sda: the write reaches its bytes 0..3146240 and the log lies in 3145728..7340032',
    );
  });

  it('a partition target next to the log partition is fine; an overlapping one is not', () => {
    expect(hazard('sda1', 'sda2', 2 * MiB)).toBeUndefined();
    expect(hazard('sda3', 'sda2', 512)).toMatch(/share disk sda/);
    expect(hazard('sda2', 'sda', 512)).toMatch(/share disk sda/);
  });

  it('a target on another disk is fine; stacked devices count every disk below them', () => {
    expect(hazard('sdb', 'sda2', 10 * MiB)).toBeUndefined();
    expect(hazard('dm-0', 'sda2', 512)).toMatch(/share disk sda/);
    expect(hazard('md0', 'sda1', 512)).toMatch(/share disk sda/);
    expect(hazard('md0', 'sda2', 10 * MiB)).toBeUndefined();
    expect(hazard('sda1', 'md0', 512)).toMatch(/share disk sda/);
  });

  it('a log file counts as the file system device it lives on', () => {
    const logFile: DeviceInfo = { isBlockDevice: false, size: 4096, dev: 8 * 256 + 2, ino: 12, rdev: 0 };
    expect(hazard('sda', logFile, 3 * MiB + 512)).toMatch(/share disk sda/);
    expect(hazard('sda1', logFile, 2 * MiB)).toBeUndefined();
  });

  it('a device sysfs does not know (tmpfs, overlay) is no hazard', () => {
    const onTmpfs: DeviceInfo = { isBlockDevice: false, size: 4096, dev: 44, ino: 12, rdev: 0 };
    expect(hazard('sda', onTmpfs, 10 * MiB)).toBeUndefined();
  });
});

describe('logwrites replay on real loop devices', () => {
  const missing = builtBins() ?? (process.getuid?.() !== 0 ? 'not root: cannot attach loop devices' : undefined);

  /** Attach `file` as a loop device, with its partitions; undefined (and why) when that fails. */
  function attach(file: string): { dev?: string; why?: string } {
    const r = spawnSync('losetup', ['-f', '--show', '-P', file], { encoding: 'utf8' });
    if (r.status !== 0) return { why: `losetup failed: ${(r.error?.message ?? r.stderr).trim()}` };
    const dev = r.stdout.trim();
    cleanups.push(() => void spawnSync('losetup', ['-d', dev]));
    // Partition scanning can be off or slow in containers; partx adds them either way.
    if (!fs.existsSync(`${dev}p2`)) spawnSync('partx', ['-a', dev]);
    for (let i = 0; i < 50 && !fs.existsSync(`${dev}p2`); i++) spawnSync('sleep', ['0.1']);
    if (!fs.existsSync(`${dev}p2`)) return { why: `no partition devices appeared for ${dev}` };
    return { dev };
  }

  /** An 8 MiB disk image with an MBR: partition 1 at 1 MiB (2 MiB long), partition 2 at 3 MiB (4 MiB). */
  function diskImage(): string {
    const img = path.join(dir, 'disk.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 8 << 20);
    const mbr = Buffer.alloc(512);
    const entry = (at: number, start: number, sectors: number) => {
      mbr[at + 4] = 0x83;
      mbr.writeUInt32LE(start, at + 8);
      mbr.writeUInt32LE(sectors, at + 12);
    };
    entry(446, 2048, 4096);
    entry(462, 6144, 8192);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    const fd = fs.openSync(img, 'r+');
    fs.writeSync(fd, mbr, 0, 512, 0);
    fs.closeSync(fd);
    return img;
  }

  it.skipIf(missing)(
    'a whole-disk target is refused once the replay would reach the log partition; a sibling partition is fine',
    async (ctx) => {
      const loop = attach(diskImage());
      if (!loop.dev) {
        console.warn(`skipped: ${loop.why}`);
        ctx.skip();
        return;
      }
      const log = await writerLog(512, 7);
      // The log on partition 2; it writes device sectors below 68, far below 3 MiB.
      fs.writeFileSync(`${loop.dev}p2`, log);
      const small = runBin('logwrites', ['replay', `${loop.dev}p2`, loop.dev], dir);
      expect(small.stderr).toBe('');
      expect(small.status).toBe(0);
      const sibling = runBin('logwrites', ['replay', `${loop.dev}p2`, `${loop.dev}p1`], dir);
      expect(sibling.stderr).toBe('');
      expect(sibling.status).toBe(0);

      // A log that writes up to 4 MiB into its target reaches partition 2 of the whole disk.
      const far = await writerLog(512, 7);
      const dv = new DataView(far.buffer, far.byteOffset);
      dv.setBigUint64(512, 8191n, true); // entry 0 now writes at 4 MiB - 512
      fs.writeFileSync(`${loop.dev}p2`, far);
      const before = fs.readFileSync(`${loop.dev}p2`).subarray(0, far.length);
      const refused = runBin('logwrites', ['replay', `${loop.dev}p2`, loop.dev], dir);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `^logwrites: refusing to replay: ${loop.dev} and the log share disk ${path.basename(loop.dev)}: .* \\(--force to do it anyway\\)\\n$`,
        ),
      );
      expect(fs.readFileSync(`${loop.dev}p2`).subarray(0, far.length).equals(before)).toBe(true);
    },
  );

  it.skipIf(missing)(
    "refuses a loop device over the log file itself, and the file behind the log's loop device",
    async (ctx) => {
      const file = path.join(dir, 'self.log');
      fs.writeFileSync(file, await writerLog(512, 9));
      const r0 = spawnSync('losetup', ['-f', '--show', file], { encoding: 'utf8' });
      if (r0.status !== 0) {
        console.warn(`skipped: losetup failed: ${r0.stderr.trim()}`);
        ctx.skip();
        return;
      }
      const dev = r0.stdout.trim();
      cleanups.push(() => void spawnSync('losetup', ['-d', dev]));
      const r = runBin('logwrites', ['replay', file, dev], dir);
      const back = runBin('logwrites', ['replay', dev, file], dir);
      expect(back.status).toBe(1);
      expect(back.stderr).toContain('and the log share the file');
      expect(r.status).toBe(1);
      const st = fs.statSync(file);
      expect(r.stderr).toMatch(
        new RegExp(
          `^logwrites: refusing to replay: ${dev} and the log share the file ${st.dev}:${st.ino} \\(device:inode\\): .*\\(--force to do it anyway\\)\\n$`,
        ),
      );
    },
  );
});
