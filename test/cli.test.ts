// The `logwrites` CLI, run as users run it (the built binary), on kernel-written logs,
// against ground truth: the manifests, replay-log, and an independent reader.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeHeader, encodeSuper } from '../src/format.ts';
import { jsKernels } from '../src/kernels/load.ts';
import { LogReader, memorySource } from '../src/reader.ts';
import { KERNEL_FIXTURES, kernelLog, manifest, ROOT, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { oracleRead, oracleReplay } from './support/oracle.ts';

const dir = scratchDir('cli');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function logwrites(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (...args: string[]) => {
  const r = logwrites(...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
};
const ndjson = (...args: string[]) =>
  logwrites(...args, '--json')
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const m = manifest(name);
  const log = kernelLog(name);
  const oracle = oracleRead(log);

  it('info counts what the kernel logged', () => {
    const i = json('info', log);
    expect(i).toMatchObject({
      sectorSize: m.sectorsize,
      nrEntries: m.nr_entries,
      entries: m.nr_entries,
      trailingEntries: 0,
      marks: m.marks_in_log.length,
    });
    for (const [flag, n] of Object.entries(m.flag_counts)) expect(i.flagCounts[flag], flag).toBe(n);
    expect(i.lastMark).toBe('dm-log-writes-end');
  });

  it('marks and find agree with the independent reader', () => {
    const marks = json('marks', log);
    expect(marks.map((x: { mark: string }) => x.mark)).toEqual(m.marks_in_log);
    for (const mk of marks) {
      const want = oracle.entries.find((e) => e.mark === mk.mark)!;
      expect(mk.entry).toBe(want.index);
      expect(mk.offset).toBe(want.offset);
      expect(logwrites('find', log, '--mark', mk.mark).stdout).toBe(`${want.index}\n`);
    }
    const fua = oracle.entries.find((e) => e.index >= 5 && e.flags & 2)!;
    expect(logwrites('find', log, '--next-fua', '--start-entry', '5').stdout).toBe(`${fua.index}\n`);
  });

  it('lists with filters', () => {
    expect(ndjson('list', log, '--flags', 'FUA')).toHaveLength(m.flag_counts.FUA ?? 0);
    const [first, second] = m.marks_in_log as [string, string];
    const between = ndjson('list', log, '--from', `mark:${first}`, '--to', `mark:${second}`);
    const [a, b] = [first, second].map((mk) => oracle.entries.find((e) => e.mark === mk)!.index) as [number, number];
    expect(between.map((e: { index: number }) => e.index)).toEqual(oracle.entries.slice(a, b + 1).map((e) => e.index));
  });

  it('replays to a mark the same by both plans, and as the independent reader does', () => {
    const mark = m.marks_in_log[3]!;
    const at = oracle.entries.find((e) => e.mark === mark)!.index;
    const want = sha(oracleReplay(log, m.device_size, at));
    for (const plan of ['last-write', 'sequential']) {
      const img = zeroImage(dir, `${name}-${plan}.img`, m.device_size);
      const r = logwrites('replay', log, img, '--to', `mark:${mark}`, '--plan', plan, '--json');
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ plan, firstEntry: 0, lastEntry: at, interrupted: false });
      expect(sha256File(img), plan).toBe(want);
      fs.rmSync(img);
    }
  });

  it('replays everything to the device the kernel left', () => {
    const img = zeroImage(dir, `${name}-all.img`, m.device_size);
    expect(logwrites('replay', log, img).status).toBe(0);
    expect(sha256File(img)).toBe(m.final_device_sha256);
    fs.rmSync(img);
  });

  it('digests the final device as a fingerprint of its content', () => {
    const points = ndjson('digest', log, '--at', 'marks');
    expect(points.map((p: { mark?: string }) => p.mark)).toEqual(m.marks_in_log);
    const fp = jsKernels.fingerprint(m.sectorsize);
    const dev = oracleReplay(log, m.device_size);
    for (let s = 0; s < m.device_size / m.sectorsize; s++)
      fp.write(s, dev.subarray(s * m.sectorsize, (s + 1) * m.sectorsize));
    expect(points.at(-1).fingerprint).toBe(fp.value().toString(16).padStart(16, '0'));
  });
});

describe('diff, blame, checks, errors', () => {
  const name = 'ext4-512';
  const m = manifest(name);
  const log = kernelLog(name);
  const oracle = oracleRead(log);
  const idx = (mark: string) => oracle.entries.find((e) => e.mark === mark)!.index;

  it('diff names exactly the sectors whose bytes changed', () => {
    const ranges: { sector: number; nrSectors: number; entries: number[] }[] = json(
      'diff',
      log,
      'mark:files',
      'mark:overwrite',
    );
    const a = oracleReplay(log, m.device_size, idx('files'));
    const b = oracleReplay(log, m.device_size, idx('overwrite'));
    const changed: number[] = [];
    for (let s = 0; s < m.device_size / 512; s++)
      if (!a.subarray(s * 512, s * 512 + 512).equals(b.subarray(s * 512, s * 512 + 512))) changed.push(s);
    expect(ranges.flatMap((r) => Array.from({ length: r.nrSectors }, (_, i) => r.sector + i))).toEqual(changed);
    for (const r of ranges) for (const e of r.entries) expect(e).toBeGreaterThan(idx('files'));
  });

  it('blame lists every entry touching a sector, in order', () => {
    const sector = oracle.entries.find((e) => e.index > 100 && e.payload)!.sector;
    const want = oracle.entries
      .filter((e) => e.nrSectors && sector >= e.sector && sector < e.sector + e.nrSectors)
      .map((e) => e.index);
    expect(ndjson('blame', log, String(sector)).map((x: { entry: number }) => x.entry)).toEqual(want);
  });

  it('checks at each FUA with a real fsck, and reports a failing checker with status 2', () => {
    const img = zeroImage(dir, 'check.img', m.device_size);
    expect(logwrites('replay', log, img, '--to', 'mark:mkfs').status).toBe(0);
    const fsck =
      spawnSync('sh', ['-c', 'command -v e2fsck']).status === 0 ? 'e2fsck -fn "$LOGWRITES_TARGET" >/dev/null' : 'true';
    const ok = JSON.parse(
      logwrites('replay', log, img, '--from', 'mark:mkfs', '--check', 'fua', '--exec', fsck, '--json').stdout,
    );
    expect(ok.checks).toBe(oracle.entries.filter((e) => e.index >= idx('mkfs') && e.flags & 2).length);
    expect(ok.failures).toEqual([]);
    const bad = logwrites('replay', log, img, '--check', '7', '--exec', 'echo broken at $LOGWRITES_ENTRY; exit 3');
    expect(bad.status).toBe(2);
    expect(bad.stdout).toContain('check failed at entry 6 (exit 3)');
    expect(bad.stdout).toContain('broken at 6');
  });

  it('refuses targets that are too small, with one line and status 1', () => {
    const small = zeroImage(dir, 'small.img', 1 << 20);
    const r = logwrites('replay', log, small);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^logwrites: refusing to replay: entry \d+ at byte \d+ (writes|discards) sectors \d+\.\.\d+, past the end of the target \(2048 sectors\) \(--force to do it anyway\)\n$/,
    );
    expect(fs.readFileSync(small).every((b) => b === 0)).toBe(true);
  });

  it('turns a corrupt log into one line naming the entry and byte offset', () => {
    const bad = path.join(dir, 'bad.log');
    const bytes = fs.readFileSync(log);
    const victim = oracle.entries[10]!;
    bytes.fill(0, victim.offset, victim.offset + 32);
    fs.writeFileSync(bad, bytes);
    const img = zeroImage(dir, 'untouched.img', m.device_size);
    for (const args of [
      ['info', bad],
      ['list', bad],
      ['replay', bad, img],
    ]) {
      const r = logwrites(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toBe(
        `logwrites: entry 10 at byte ${victim.offset}: malformed entry: flags 0 and nr_sectors 0 (zeroed or unwritten sector)\n`,
      );
    }
    expect(sha256File(img)).toBe(sha256File(zeroImage(dir, 'zero.img', m.device_size)));
  });

  it('documents every command with an example', () => {
    for (const cmd of [
      'info',
      'list',
      'marks',
      'find',
      'replay',
      'replay-log-server',
      'diff',
      'blame',
      'digest',
      'explore',
      'serve',
      'mark',
      'status',
      'view',
      'plot',
      'recover',
    ]) {
      // Each runs with only its own group of commands loaded (src/cli/main.ts).
      const r = logwrites(cmd, '--help');
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(/\$ logwrites /);
    }
  });

  it('lists every command in --help, and a mistyped one is named with a suggestion', () => {
    const help = logwrites('--help');
    expect(help.status).toBe(0);
    const listed = [...help.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]);
    expect(listed).toEqual(expect.arrayContaining(['info', 'replay', 'replay-log-server', 'explore', 'serve', 'demo']));
    expect(logwrites('--version')).toMatchObject({ status: 0, stdout: '0.1.0\n' });
    const typo = logwrites('replya', 'log.img');
    expect(typo.status).toBe(1);
    expect(typo.stderr).toMatch(/unknown command 'replya'.*Did you mean replay\?/s);
  });
});

it('reads payloads in whole sectors, even 16 MiB ones, and digests such a log', async () => {
  const S = 16 << 20;
  const log = path.join(dir, 'big-sectors.log');
  const payload = Buffer.alloc(2 * S, 3);
  fs.writeFileSync(
    log,
    Buffer.concat([
      encodeSuper({ nrEntries: 2, sectorSize: S }),
      encodeHeader({ sector: 1, nrSectors: 2, flags: 0 }, S),
      payload,
      encodeHeader({ sector: 0, nrSectors: 0, flags: 8, mark: 'end' }, S),
    ]),
  );
  const reader = await LogReader.open(memorySource(fs.readFileSync(log)));
  const first = (await reader.entries().next()).value!;
  const pieces: number[] = [];
  for await (const piece of reader.payload(first)) pieces.push(piece.length);
  expect(pieces).toEqual([S, S]);
  const fp = jsKernels.fingerprint(S);
  fp.write(1, payload);
  expect(ndjson('digest', log).map((p: { fingerprint: string }) => p.fingerprint)).toEqual([
    fp.value().toString(16).padStart(16, '0'),
  ]);
});
