// Crash logs are first-class (issue 11): a log with valid entries past nr_entries (what the
// kernel leaves after a crash) and a log cut short are noticed by every command that reads
// them, in one line naming the `logwrites recover` command; a cut log is read as its valid
// prefix. And checks or stops that cannot fire say so instead of passing silently.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { superWithCount } from '../src/recover.ts';
import { binRunner } from './support/run.ts';
import { kernelLog, scratchDir, zeroImage } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';
import { SAMPLE_ENTRIES, sampleLog } from './support/sample-logs.ts';
import { Flag } from '../src/format.ts';

const dir = scratchDir('crash-logs');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const { logwrites, replayLog } = binRunner(dir);

const original = fs.readFileSync(kernelLog('ext4-512'));
const { entries } = oracleRead(kernelLog('ext4-512'));
const S = 512;
const COUNTED = 200;

/** The kernel's log with a super that counts only the first 200 entries, as after a crash. */
const past = path.join(dir, 'past.log');
fs.writeFileSync(past, Buffer.concat([superWithCount(original.subarray(0, S), COUNTED), original.subarray(S)]));
const pastNote = `${past} holds ${entries.length - COUNTED} valid entries past the ${COUNTED} nr_entries counts, as a crashed or live log does; read as the ${COUNTED} counted (to count them: logwrites recover ${past} --write)`;

/** The kernel's log cut inside the payload of an entry. */
const k = entries.findIndex((e) => e.index >= 100 && (e.payload?.length ?? 0) > 512);
const cut = path.join(dir, 'cut.log');
fs.writeFileSync(cut, original.subarray(0, entries[k]!.offset + S + 512));
const cutNote = `${cut} ends inside entry ${k} at byte ${entries[k]!.offset} (nr_entries says ${entries.length}), as a crashed log can; read as its ${k} whole entries (see: logwrites recover ${cut})`;

const marksBefore = (n: number) => entries.filter((e) => e.mark !== undefined && e.index < n).map((e) => e.mark);

describe('valid entries past nr_entries', () => {
  it('info, marks, list and replay say so in one line and use the counted entries', () => {
    const info = logwrites('info', past);
    expect(info.stderr).toBe(`logwrites: note: ${pastNote}\n`);
    expect(info.stdout).toContain(
      `entries    ${COUNTED} (super says ${COUNTED}), plus ${entries.length - COUNTED} valid past nr_entries`,
    );
    const marks = logwrites('marks', past, '--json');
    expect(marks.stderr).toBe(`logwrites: note: ${pastNote}\n`);
    expect(JSON.parse(marks.stdout).map((m: { mark: string }) => m.mark)).toEqual(marksBefore(COUNTED));
    const img = zeroImage(dir, 'past.img', 64 << 20);
    const replay = logwrites('replay', past, img);
    expect(replay.status).toBe(0);
    expect(replay.stdout).toMatch(new RegExp(`^replayed entries 0\\.\\.${COUNTED - 1} `));
    expect(replay.stderr).toBe(`logwrites: note: ${pastNote}\n`);
    // list --past-end shows them itself.
    expect(logwrites('list', past, '--past-end', '--from', String(COUNTED)).stderr).toBe('');
  });

  it('a failure on such a log carries the note on its one line', () => {
    const r = logwrites('find', past, '--mark', 'dm-log-writes-end');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`logwrites: mark 'dm-log-writes-end' is not in the log; note: ${pastNote}\n`);
  });

  it("replay-log keeps upstream's stdout and status, and adds the note on stderr", () => {
    const img = zeroImage(dir, 'past-rl.img', 64 << 20);
    const r = replayLog('--log', past, '--replay', img, '--end-mark', 'dm-log-writes-end');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `replay-log: --end-mark dm-log-writes-end never fired: the ${COUNTED} replayed entries hold no such mark, so the replay went to the end of the log; ${pastNote}\n`,
    );
    const find = replayLog('--log', past, '--find', '--end-mark', 'dm-log-writes-end');
    expect(find).toEqual({ status: 1, stdout: '', stderr: `Couldn't find entry; ${pastNote}\n` });
  });

  it('recover summarises; --verbose lists every entry', () => {
    const r = logwrites('recover', past);
    expect(r.stderr).toBe('');
    const first = entries[COUNTED]!;
    expect(r.stdout).toContain(`recovered  ${entries.length - COUNTED} entries past nr_entries: `);
    expect(r.stdout).toContain(`first      entry ${COUNTED} at byte ${first.offset}: `);
    expect(r.stdout).toContain(
      `last       entry ${entries.length - 1} at byte ${entries.at(-1)!.offset}: MARK mark 'dm-log-writes-end'`,
    );
    expect(r.stdout).toContain('stopped    the log ends at byte');
    expect(r.stdout.split('\n').length).toBeLessThan(15);
    const verbose = logwrites('recover', past, '--verbose');
    expect(verbose.stdout.split('\n').filter((l) => /^ {2}entry \d+ at byte/.test(l))).toHaveLength(
      entries.length - COUNTED,
    );
  });
});

describe('a log cut short', () => {
  it('info, list and marks read its valid prefix and say so', () => {
    const info = logwrites('info', cut, '--json');
    expect(info.stderr).toBe(`logwrites: note: ${cutNote}\n`);
    expect(info.status).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({
      nrEntries: entries.length,
      entries: k,
      logBytes: fs.statSync(cut).size,
    });
    const marks = logwrites('marks', cut, '--json');
    expect(marks.status).toBe(0);
    expect(JSON.parse(marks.stdout).map((m: { mark: string }) => m.mark)).toEqual(marksBefore(k));
    const list = logwrites('list', cut, '--json');
    expect(list.stdout.trim().split('\n')).toHaveLength(k);
    expect(list.stderr).toBe(`logwrites: note: ${cutNote}\n`);
  });

  it('replay writes its valid prefix and says so, whichever plan it writes by', () => {
    const want = zeroImage(dir, 'cut-want.img', 64 << 20);
    expect(logwrites('replay', kernelLog('ext4-512'), want, '--to', String(k - 1)).status).toBe(0);
    for (const plan of ['last-write', 'sequential']) {
      const img = zeroImage(dir, `cut-${plan}.img`, 64 << 20);
      const r = logwrites('replay', cut, img, '--plan', plan);
      expect(r.stderr).toBe(`logwrites: note: ${cutNote}\n`);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^replayed entries 0\\.\\.${k - 1} `));
      expect(fs.readFileSync(img).equals(fs.readFileSync(want))).toBe(true);
    }
  });

  it("replay-log names the recover command on upstream's error line", () => {
    const img = zeroImage(dir, 'cut-rl.img', 64 << 20);
    const r = replayLog('--log', cut, '--replay', img);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^Error reading data: 0: entry ${k} at byte ${entries[k]!.offset}: truncated payload: .*\\(entry ${k - 1} was the last one applied\\); the log ends inside a counted entry, as a crashed log can \\(see: logwrites recover ${cut}\\)\\n$`,
      ),
    );
  });
});

describe('ranges are validated before any output', () => {
  const log = kernelLog('ext4-512');
  it('list --from 90 --to 500 prints no row', () => {
    expect(logwrites('list', log, '--from', '90', '--to', '500')).toEqual({
      status: 1,
      stdout: '',
      stderr: 'logwrites: --to 500 is not in the log\n',
    });
  });
  it('--from 50 --to 40 is an error', () => {
    expect(logwrites('list', log, '--from', '50', '--to', '40')).toEqual({
      status: 1,
      stdout: '',
      stderr: 'logwrites: the range 50..40 ends before it starts\n',
    });
    const img = zeroImage(dir, 'rev.img', 64 << 20);
    expect(logwrites('replay', log, img, '--from', '50', '--to', '40')).toMatchObject({
      status: 1,
      stderr: 'logwrites: the range 50..40 ends before it starts\n',
    });
  });
});

describe('checks and stops that cannot fire', () => {
  const log = kernelLog('ext4-512');
  // Entries 3..10 of the ext4 log hold no FUA and no FLUSH.
  it('replay --check fua, --check N and --until fua say so', () => {
    const img = zeroImage(dir, 'vac.img', 64 << 20);
    const fua = logwrites('replay', log, img, '--from', '3', '--to', '10', '--check', 'fua', '--exec', 'true');
    expect(fua.status).toBe(0);
    expect(fua.stdout).toContain('\nchecks: 0 run (the range holds no FUA entry)\n');
    expect(
      logwrites('replay', log, img, '--from', '3', '--to', '10', '--check', 'flush,fua', '--exec', 'true').stdout,
    ).toContain('checks: 0 run (the range holds no FLUSH or FUA entry)');
    expect(
      logwrites('replay', log, img, '--from', '3', '--to', '10', '--check', '50', '--exec', 'true').stdout,
    ).toContain('checks: 0 run (the range holds fewer than 50 entries)');
    const json = JSON.parse(
      logwrites('replay', log, img, '--from', '3', '--to', '10', '--check', 'fua', '--exec', 'true', '--json').stdout,
    );
    expect(json).toMatchObject({ checks: 0, notes: ['checks: 0 run (the range holds no FUA entry)'] });
    expect(logwrites('replay', log, img, '--from', '3', '--to', '10', '--until', 'fua').stdout).toContain(
      '--until fua never fired: the range holds no FUA entry, so it ends at entry 10\n',
    );
  });

  it('find names what it did not find', () => {
    const last = entries.at(-1)!.index;
    expect(logwrites('find', log, '--next-fua', '--start-entry', String(last))).toEqual({
      status: 1,
      stdout: '',
      stderr: `logwrites: no such entry: the log holds no FUA entry from entry ${last} on\n`,
    });
    expect(logwrites('find', log, '--next-flush', '--start-mark', 'dm-log-writes-end').stderr).toBe(
      "logwrites: no such entry: the log holds no FLUSH entry after mark 'dm-log-writes-end'\n",
    );
  });

  it("replay-log --check fua that never runs fsck: upstream's stdout and status, one stderr line", () => {
    const img = zeroImage(dir, 'vac-rl.img', 64 << 20);
    expect(replayLog('--log', log, '--replay', img, '--limit', '8', '--check', 'fua', '--fsck', 'echo fsck')).toEqual({
      status: 0,
      stdout: '',
      stderr: 'replay-log: --check fua ran the fsck command 0 times: the 8 replayed entries hold no FUA entry\n',
    });
    const last = entries.at(-1)!.index;
    expect(replayLog('--log', log, '--replay', img, '--start-entry', String(last - 1), '--next-flush')).toEqual({
      status: 0,
      stdout: '',
      stderr:
        'replay-log: --next-flush never fired: the 2 replayed entries hold no FLUSH entry, so the replay went to the end of the log\n',
    });
  });
});

describe('one point language', () => {
  // The sample log with mark 'one' again after 'two': entries 3 (one), 6 (two), 7 (one).
  const repeated = path.join(dir, 'repeated.log');
  const list = [
    ...SAMPLE_ENTRIES.slice(0, 7),
    { sector: 0, nrSectors: 0, flags: Flag.MARK, mark: 'one' },
    ...SAMPLE_ENTRIES.slice(7),
  ];
  fs.writeFileSync(repeated, sampleLog(512, list).bytes);
  const indexes = (...args: string[]) =>
    logwrites('list', repeated, '--json', ...args)
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l).index);

  it('mark:NAME#2 is the second occurrence, mark:NAME the first, end the last entry', () => {
    expect(indexes('--from', 'mark:one', '--to', 'mark:two')).toEqual([3, 4, 5, 6]);
    expect(indexes('--from', 'mark:one#2', '--to', 'end')).toEqual([7, 8, 9, 10]);
    expect(indexes('--from', 'mark:two', '--to', 'mark:one#2')).toEqual([6, 7]);
    const img = zeroImage(dir, 'points.img', 64 * 1024);
    expect(logwrites('replay', repeated, img, '--from', 'mark:one#2', '--to', 'end').stdout).toMatch(
      /^replayed entries 7\.\.10 /,
    );
    expect(logwrites('diff', repeated, 'mark:one', 'mark:one#2').status).toBe(0);
  });

  it('a point that is not one, or a third occurrence that is not there, is one line', () => {
    expect(logwrites('list', repeated, '--from', 'one')).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "logwrites: option '--from <point>' argument 'one' is invalid. 'one' is not a point: an entry number, mark:NAME (mark:NAME#2: its second occurrence) or end (run with --help for usage)\n",
    });
    expect(logwrites('list', repeated, '--from', 'mark:one#3')).toEqual({
      status: 1,
      stdout: '',
      stderr: 'logwrites: --from mark:one#3 is not in the log\n',
    });
  });

  it('sectors read A..B, sizes carry a human size beside the bytes', () => {
    expect(logwrites('list', repeated, '--sectors', '16..17').stdout).toContain('sectors 16..19 (2048 bytes = 2 KiB)');
    expect(logwrites('list', repeated, '--sectors', '8').stdout).toContain('sector 8 (512 bytes)');
    const tiny = zeroImage(dir, 'tiny.img', 512);
    expect(logwrites('replay', repeated, tiny).stderr).toMatch(/past the end of the target \(1 sector\) /);
  });
});
