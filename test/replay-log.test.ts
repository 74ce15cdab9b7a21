// replay-log against logs the Linux kernel wrote: every call xfstests' common/dmlogwrites
// makes, checked against what the kernel itself recorded (manifest) and an independent reader.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_FIXTURES, kernelLog, manifest, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { oracleRead, oracleReplay } from './support/oracle.ts';
import { replayLog } from './support/run.ts';

const dir = scratchDir('replay-log');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Where the kernel's status line says the log stood at a mark: entry index and next free position. */
function markPoint(status: string, sectorSize: number) {
  const [logged, highest] = status.split(' ').slice(3).map(Number) as [number, number];
  return `${logged - 1}@${((highest + 1) * 512) / sectorSize}`;
}

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const m = manifest(name);
  const log = kernelLog(name);

  it('prints the info line and the entry count like upstream', async () => {
    expect(await replayLog('--log', log)).toEqual({
      status: 0,
      stdout: `Log version=1, sectorsize=${m.sectorsize}, entries=${m.nr_entries}\n`,
      stderr: '',
    });
    expect((await replayLog('--log', log, '--num-entries')).stdout).toBe(`${m.nr_entries}\n`);
  });

  it('finds every mark where the kernel logged it', async () => {
    for (const mark of m.marks) {
      const r = await replayLog('--log', log, '--find', '--end-mark', mark.name);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${markPoint(mark.status, m.sectorsize)}\n`);
    }
    // Removal splices unflushed writes before the end mark, so no status shows where it lands.
    const endMark = oracleRead(log).entries.find((e) => e.mark === 'dm-log-writes-end')!;
    const end = await replayLog('--find', '--log', log, '--end-mark', 'dm-log-writes-end');
    expect(end.stdout).toBe(`${endMark.index}@${endMark.offset / m.sectorsize + 1}\n`);
    const missing = await replayLog('--log', log, '--find', '--end-mark', 'no-such-mark');
    expect(missing).toEqual({ status: 1, stdout: '', stderr: "Couldn't find entry\n" });
  });

  it('replays every entry to the device the kernel left', async () => {
    const img = zeroImage(dir, `${name}-full.img`, m.device_size);
    expect(await replayLog('--log', log, '--replay', img)).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(sha256File(img)).toBe(m.final_device_sha256);
  });

  it('replays to each mark exactly what an independent reader replays', async () => {
    const { entries } = oracleRead(log);
    const img = zeroImage(dir, `${name}-marks.img`, m.device_size);
    for (const mark of m.marks_in_log.slice(0, 4)) {
      const r = await replayLog('--log', log, '--replay', img, '--end-mark', mark);
      expect(r.status).toBe(0);
      const at = entries.find((e) => e.mark === mark)!.index;
      const want = crypto
        .createHash('sha256')
        .update(oracleReplay(log, m.device_size, at))
        .digest('hex');
      expect(sha256File(img), `at mark ${mark}`).toBe(want);
      fs.truncateSync(img, 0);
      fs.truncateSync(img, m.device_size);
    }
  });

  it('finds the next FUA from an entry, as _log_writes_find_next_fua does', async () => {
    const { entries } = oracleRead(log);
    for (const start of [0, 10, Math.floor(m.nr_entries / 2)]) {
      const next = entries.find((e) => e.index >= start && e.flags & 2);
      const r = await replayLog('--find', '--log', log, '--next-fua', '--start-entry', String(start));
      expect(r.stdout.split('@')[0]).toBe(next ? String(next.index) : '');
    }
  });

  it('replays a range with -vv as _log_writes_replay_log_range does', async () => {
    const { entries, sectorSize } = oracleRead(log);
    const end = Math.min(40, m.nr_entries - 1);
    const img = zeroImage(dir, `${name}-range.img`, m.device_size);
    const r = await replayLog('-vv', '--log', log, '--replay', img, '--limit', String(end + 1));
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('replaying'));
    expect(lines).toHaveLength(end + 1);
    for (const [i, line] of lines.entries()) {
      const e = entries[i]!;
      expect(line).toMatch(
        new RegExp(
          `^replaying ${i}@${e.offset / sectorSize + 1}: sector ${e.sector}, size ${e.nrSectors * sectorSize}, flags 0x${e.flags.toString(16)}\\(`,
        ),
      );
    }
    const want = crypto
      .createHash('sha256')
      .update(oracleReplay(log, m.device_size, end))
      .digest('hex');
    expect(sha256File(img)).toBe(want);
  });
});

describe('replay-log output details', () => {
  const log = kernelLog('ext4-512');

  it('names flags as upstream does', async () => {
    const r = await replayLog('-v', '--log', log, '--replay', zeroImage(dir, 'flags.img', 64 << 20), '--limit', '300');
    const flags = new Set(r.stdout.split('\n').map((l) => /\((.*)\)$/.exec(l)?.[1]));
    for (const f of ['DISCARD', 'FLUSH', 'FUA|METADATA', 'FLUSH|FUA|METADATA', 'MARK', 'METADATA', 'NONE'])
      expect(flags).toContain(f);
    expect(r.stdout).toContain("replay device doesn't support discard, switching to writing zeros\n");
  });

  it('parses numbers like strtoull(x, 0) and rejects trailing junk', async () => {
    const dec = await replayLog('--log', log, '--find', '--limit', '16');
    expect((await replayLog('--log', log, '--find', '--limit', '0x10')).stdout).toBe(dec.stdout);
    expect((await replayLog('--log', log, '--find', '--limit', '020')).stdout).toBe(dec.stdout);
    expect(await replayLog('--log', log, '--find', '--limit', '16x')).toEqual({
      status: 1,
      stdout: '',
      stderr: 'Invalid entry number\n',
    });
    expect((await replayLog('--log', log, '--start-entry', '100000')).stderr).toBe('Invalid entry number\n');
  });

  it('accepts prefixes of long options as glibc does and rejects the rest with usage', async () => {
    expect((await replayLog('--lo', log, '--num')).stdout).toBe('282\n');
    // Prefixes shared by options of the same kind take the first (--n is --next-flush).
    expect((await replayLog('--l', log, '--find', '--n')).stdout).toBe(
      (await replayLog('--log', log, '--find', '--next-flush')).stdout,
    );
    const amb = await replayLog('--log', log, '--f');
    expect(amb.status).toBe(1);
    expect(amb.stderr.split('\n')[0]).toBe("replay-log: option '--f' is ambiguous; possibilities: '--find' '--fsck'");
    expect(amb.stderr).toContain('Usage: replay-log --log <logfile> [options]');
    expect((await replayLog('--replay', 'x')).status).toBe(1);
  });

  it('runs the checker at each FUA and stops where it fails', async () => {
    const img = zeroImage(dir, 'fsck.img', 64 << 20);
    const counter = path.join(dir, 'count');
    fs.writeFileSync(counter, '');
    const ok = await replayLog('--log', log, '--replay', img, '--fsck', `echo x >> ${counter}`, '--check', 'fua');
    expect(ok.status).toBe(0);
    expect(fs.readFileSync(counter, 'utf8').split('\n').length - 1).toBe(manifest('ext4-512').flag_counts.FUA);
    const bad = await replayLog('--log', log, '--replay', img, '--fsck', 'false', '--check', '5');
    expect(bad).toEqual({ status: 1, stdout: '', stderr: 'Fsck errored out on entry 4\n' });
  });

  it('refuses to replay onto the log itself', async () => {
    const copy = path.join(dir, 'self.log');
    fs.copyFileSync(log, copy);
    const r = await replayLog('--log', copy, '--replay', copy);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is the log itself/);
    expect(sha256File(copy)).toBe(sha256File(log));
  });
});

describe('logs written by QEMU blklogwrites', () => {
  const hasQemu = spawnSync('qemu-io', ['--version']).status === 0;
  // Writes, zero writes, discards and flushes; QEMU counts entries in the super at each flush, so it ends with one.
  const script = [
    'write -P 0xab 0 64k',
    'write -z 64k 8k',
    'discard 0 4k',
    'flush',
    'write -P 0xcd 100k 12k',
    'write -P 0x12 4096 8192',
    'flush',
    'discard 512k 64k',
    'write -P 0x77 600k 4k',
    'write -P 0x99 1020k 4k',
    'flush',
  ];

  it.skipIf(!hasQemu).each([512, 4096])("replays a log at sectorsize %i to QEMU's data image", async (S) => {
    const d = fs.mkdtempSync(path.join(dir, `qemu-${S}-`));
    const data = zeroImage(d, 'data.img', 1 << 20);
    const logPath = path.join(d, 'log.img');
    fs.writeFileSync(logPath, ''); // blklogwrites opens the log, it does not create it
    const q = spawnSync('qemu-io', [
      '--image-opts',
      `driver=blklogwrites,file.filename=${data},log.filename=${logPath},log-sector-size=${S}`,
      ...script.flatMap((c) => ['-c', c]),
    ]);
    expect(q.status, String(q.stderr)).toBe(0);
    const img = zeroImage(d, 'replayed.img', 1 << 20);
    expect(await replayLog('--log', logPath, '--replay', img)).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(sha256File(img)).toBe(sha256File(data));
    const flushes = oracleRead(logPath).entries.filter((e) => e.flags & 1).length;
    expect((await replayLog('--log', logPath, '--find', '--next-flush', '--limit', '0')).status).toBe(0);
    expect(flushes).toBeGreaterThanOrEqual(3);
  });

  it.runIf(!hasQemu)('needs qemu-io (package qemu-utils): skipped', () => {
    console.warn('qemu-io is not installed: QEMU-written logs are not tested');
  });
});

describe('replay-log safety', () => {
  it('searches a log named as its own --replay target (nothing is replayed), but refuses to replay onto it', async () => {
    const copy = path.join(dir, 'self-find.log');
    fs.copyFileSync(kernelLog('ext4-512'), copy);
    expect((await replayLog('--log', copy, '--replay', copy, '--find', '--end-mark', 'mkfs')).status).toBe(0);
    expect((await replayLog('--log', copy, '--replay', copy, '--limit', '1')).stderr).toMatch(
      /^Refusing to replay: .* is the log itself/,
    );
  });
});
