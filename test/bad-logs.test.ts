// Broken logs, built here byte by byte: replay-log names the entry and byte offset of the
// problem in one line, exits 1 (255 where upstream's find mode returns -1), never prints a
// stack trace, and never writes outside the target.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { replayLog } from './support/run.ts';
import { badLogs, SAMPLE_DEVICE, sampleLog } from './support/sample-logs.ts';

const dir = scratchDir('bad-logs');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** One line on stderr, naming where the problem is, and nothing that looks like a stack. */
function expectOneLine(stderr: string, where: RegExp) {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(where);
  expect(stderr).not.toMatch(/\n\s+at |Error: /);
}

describe.each(badLogs())('$name', (bad) => {
  const log = path.join(dir, `${bad.name}.log`);
  fs.writeFileSync(log, bad.bytes);
  const where = bad.problem === 'super' ? /super at byte \d+/ : new RegExp(`entry ${bad.entry} at byte \\d+`);

  it('replay stops with one line naming the problem and keeps to the target', async () => {
    const img = zeroImage(dir, `${bad.name}.img`, SAMPLE_DEVICE);
    const r = await replayLog('--log', log, '--replay', img);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expectOneLine(r.stderr, where);
    if (bad.problem !== 'super')
      expect(r.stderr).toMatch(
        /\((entry \d+ was the last one applied|nothing was applied)\)(; the log ends inside a counted entry, as a crashed log can \(see: logwrites recover .*\))?\n$/,
      );
    expect(fs.statSync(img).size).toBe(SAMPLE_DEVICE);
  });

  it('a search through it fails like upstream', async () => {
    const r = await replayLog('--log', log, '--find', '--end-mark', 'no-such-mark');
    expect(r.stdout).toBe('');
    if (bad.problem === 'past-target') {
      // Searching does not touch a target: the log itself is fine.
      expect(r).toEqual({ status: 1, stdout: '', stderr: "Couldn't find entry\n" });
      return;
    }
    expect(r.status).toBe(bad.problem === 'super' ? 1 : 255);
    expectOneLine(r.stderr, bad.problem === 'super' ? where : /entry \d+ at byte \d+/);
  });
});

describe('where the problem is', () => {
  const S = 512;
  const { offsets } = sampleLog(S);
  const byName = new Map(badLogs().map((b) => [b.name, b]));
  const run = async (name: string, ...args: string[]) => {
    const log = path.join(dir, `where-${name}.log`);
    fs.writeFileSync(log, byName.get(name)!.bytes);
    const img = zeroImage(dir, `where-${name}.img`, SAMPLE_DEVICE);
    return { r: await replayLog('--log', log, ...args.map((a) => (a === 'IMG' ? img : a))), img };
  };

  it('gives upstream words first, then the entry and byte', async () => {
    expect((await run('nonzero-padding', '--replay', 'IMG')).r.stderr).toBe(
      `Malformed entry @${offsets[5]! / S}: entry 5 at byte ${offsets[5]}: malformed entry: header not zero padded (entry 4 was the last one applied)\n`,
    );
    expect((await run('truncated-header', '--replay', 'IMG')).r.stderr).toMatch(
      new RegExp(`^Error reading entry: 0: entry 5 at byte ${offsets[5]}: truncated log`),
    );
    expect((await run('truncated-payload', '--replay', 'IMG')).r.stderr).toMatch(
      new RegExp(`^Error reading data: 0: entry 5 at byte ${offsets[5]}: truncated payload`),
    );
    expect((await run('bad-magic')).r.stderr).toMatch(/^Magic doesn't match: super at byte 0/);
    expect((await run('version-2')).r.stderr).toMatch(/^Version mismatch, wanted 1, have 2: super at byte 8/);
    expect((await run('truncated-super')).r.stderr).toMatch(/^Error reading super: 0: super at byte 0/);
  });

  it('applies every entry before the problem, as upstream does', async () => {
    const good = await run('nonzero-padding', '--replay', 'IMG', '--limit', '5');
    const want = sha256File(good.img);
    const { r, img } = await run('nonzero-padding', '--replay', 'IMG');
    expect(r.status).toBe(1);
    expect(sha256File(img)).toBe(want);
  });

  it('refuses an entry past the end of the target before writing it; --force grows a file as upstream does', async () => {
    const { r, img } = await run('write-past-target', '-v', '--replay', 'IMG');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^Error writing data: entry 8 at byte \d+: reaches target byte 516096, past the end of the 65536-byte target \(entry 7 was the last one applied\)\n$/,
    );
    expect(fs.statSync(img).size).toBe(SAMPLE_DEVICE);
    const forced = await run('write-past-target', '--replay', 'IMG', '--force');
    expect(forced.r.status).toBe(0);
    expect(fs.statSync(forced.img).size).toBe(516096);
  });

  it('is not bothered by problems past where it stops', async () => {
    expect((await run('truncated-payload', '--find', '--end-mark', 'one')).r).toEqual({
      status: 0,
      stdout: `3@${offsets[4]! / S}\n`,
      stderr: '',
    });
    expect((await run('nr-entries-past-file', '--find', '--end-mark', 'dm-log-writes-end')).r.status).toBe(0);
    expect((await run('zeroed-header', '--replay', 'IMG', '--end-mark', 'one')).r.status).toBe(0);
    // Upstream reads no entry to print the info line or the count.
    expect((await run('nr-entries-past-file')).r).toEqual({
      status: 0,
      stdout: 'Log version=1, sectorsize=512, entries=1000\n',
      stderr: '',
    });
  });
});
