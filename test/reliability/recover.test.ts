// `logwrites recover` on kernel logs cut at simulated crash points: the kernel rewrites the
// super only at FUA and MARK entries, so a crash after entry k leaves k+1 entries on disk and
// a super counting those up to the last FUA or mark. Recovery must find exactly k+1, and the
// recovered log must replay to exactly what the original held after entry k.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeSuper, Flag } from '../../src/format.ts';
import { LogReader } from '../../src/reader.ts';
import { recover, superWithCount } from '../../src/recover.ts';
import { KERNEL_FIXTURES, kernelLog, manifest, scratchDir } from '../support/fixtures.ts';
import { oracleRead, oracleReplay } from '../support/oracle.ts';
import { builtBins, concatSource, rng, runBin } from './hostile.ts';

const dir = scratchDir('recover');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** Crash points for a log: every entry of the small ones, an even sample of the large ones. */
function crashPoints(n: number, most = 160): number[] {
  if (n <= most) return [...Array(n).keys()];
  return [...new Set([...Array(most).keys()].map((i) => Math.floor((i * (n - 1)) / (most - 1))))];
}

type Tail = 'zeros' | 'garbage' | 'torn';
const TAILS: readonly Tail[] = ['zeros', 'garbage', 'torn'];
const crashCounts = { points: 0, cases: 0, lost: 0 };
afterAll(() =>
  console.log(
    `recover: ${crashCounts.points} crash points, ${crashCounts.cases} crashed logs, ${crashCounts.lost} with entries lost`,
  ),
);

describe.each(KERNEL_FIXTURES)('crash points in %s', (name) => {
  const file = kernelLog(name);
  const log = new Uint8Array(fs.readFileSync(file));
  const { sectorSize: S, entries } = oracleRead(file);
  const endOf = (i: number) => entries[i]!.offset + S + (entries[i]!.payload?.length ?? 0);
  /** nr_entries as the kernel left it after logging entry k. */
  const staleCount = (k: number) => {
    for (let i = k; i >= 0; i--) if (entries[i]!.flags & (Flag.FUA | Flag.MARK)) return i + 1;
    return 0;
  };
  const random = rng(0x5eed + name.length);

  /** The log as a crash after entry k leaves it, followed by `tail`. */
  function crashed(k: number, tail: Tail) {
    const stale = staleCount(k);
    const body = log.subarray(S, endOf(k));
    let rest: Uint8Array;
    if (tail === 'zeros') rest = new Uint8Array(64 * 1024);
    else if (tail === 'garbage') rest = random.bytes(3 * S);
    else if (k + 1 < entries.length && entries[k + 1]!.payload?.length) {
      // The next entry's header made it, half its payload did not.
      rest = log.subarray(endOf(k), endOf(k) + S + Math.floor(entries[k + 1]!.payload!.length / 2));
    } else rest = new Uint8Array(0);
    return { stale, source: concatSource([superWithCount(log.subarray(0, S), stale), body, rest]) };
  }

  it('recover finds every entry up to the crash, whatever follows it', async () => {
    for (const k of crashPoints(entries.length)) {
      crashCounts.points++;
      for (const tail of TAILS) {
        const { stale, source } = crashed(k, tail);
        const r = await recover(await LogReader.open(source));
        crashCounts.cases++;
        if (r.validEntries !== k + 1) crashCounts.lost++;
        expect({ k, tail, valid: r.validEntries, end: r.end }).toEqual({ k, tail, valid: k + 1, end: endOf(k) });
        expect(r.nrEntries).toBe(stale);
        expect(r.trailing.map((e) => e.offset)).toEqual(entries.slice(stale, k + 1).map((e) => e.offset));
      }
    }
  });

  it('the recovered log replays to exactly the device after the crash point', async () => {
    const size = manifest(name).device_size;
    const picks = crashPoints(entries.length, 6);
    for (const k of picks) {
      const { source } = crashed(k, 'garbage');
      const r = await recover(await LogReader.open(source));
      const fixed = source.bytes();
      fixed.set(superWithCount(fixed.subarray(0, S), r.validEntries));
      const p = path.join(dir, `${name}-${k}.log`);
      fs.writeFileSync(p, fixed);
      expect(sha(oracleReplay(p, size)), `crash after entry ${k}`).toBe(sha(oracleReplay(file, size, k)));
      fs.rmSync(p);
    }
  });

  it('a log cut short of what its super counts is found short, and nothing before the cut is lost', async () => {
    for (const k of crashPoints(entries.length - 1, 20)) {
      // Cut inside entry k+1 (its header, or its payload when it has one).
      const cut = entries[k + 1]!.offset + (entries[k + 1]!.payload ? S + 1 : S - 1);
      const r = await recover(await LogReader.open(concatSource([log.subarray(0, cut)])));
      expect(r.validEntries).toBe(k + 1);
      expect(r.trailing).toEqual([]);
      expect(r.stoppedBecause).toMatch(new RegExp(`^entry ${k + 1} at byte ${entries[k + 1]!.offset}: truncated`));
    }
  });
});

describe('logwrites recover (the CLI)', () => {
  const missing = builtBins();
  const name = 'ext4-512';
  const file = kernelLog(name);
  const { sectorSize: S, entries } = oracleRead(file);
  const original = fs.readFileSync(file);
  const stale = entries.findIndex((e) => e.mark === 'big') + 1;

  it.skipIf(missing)(
    'reports trailing entries, rewrites the count after saving the super, and refuses to clobber a backup',
    () => {
      const p = path.join(dir, 'stale.log');
      const copy = Buffer.from(original);
      copy.set(superWithCount(copy.subarray(0, S), stale));
      fs.writeFileSync(p, copy);

      const dry = runBin('logwrites', ['recover', p], dir);
      expect(dry.stderr).toBe('');
      expect(dry.status).toBe(0);
      expect(dry.stdout).toContain(
        `valid      ${entries.length} entries, ending at byte ${original.length} (${entries.length - stale} past nr_entries)`,
      );
      expect(dry.stdout).toContain(`--write would raise nr_entries from ${stale} to ${entries.length}`);
      expect(dry.stdout).toContain(`entry ${stale} at byte ${entries[stale]!.offset}:`);
      expect(fs.readFileSync(p).equals(copy)).toBe(true);

      const json = JSON.parse(runBin('logwrites', ['recover', p, '--json'], dir).stdout);
      expect(json).toMatchObject({ nrEntries: stale, validEntries: entries.length, end: original.length });
      expect(json.trailing).toHaveLength(entries.length - stale);

      const w = runBin('logwrites', ['recover', p, '--write'], dir);
      expect(w.stderr).toBe('');
      expect(w.status).toBe(0);
      expect(w.stdout).toContain(
        `rewrote    nr_entries ${stale} -> ${entries.length}; the old super sector is in ${p}.super-backup`,
      );
      expect(fs.readFileSync(`${p}.super-backup`).equals(copy.subarray(0, S))).toBe(true);
      // Only the count changed: the log is now byte for byte what the kernel wrote.
      expect(fs.readFileSync(p).equals(original)).toBe(true);
      expect(runBin('logwrites', ['info', p], dir).status).toBe(0);

      expect(runBin('logwrites', ['recover', p, '--write'], dir).stdout).toContain('nothing to do');
      fs.writeFileSync(p, copy);
      const again = runBin('logwrites', ['recover', p, '--write'], dir);
      expect(again.status).toBe(1);
      expect(again.stderr).toBe(
        `logwrites: backup ${p}.super-backup already exists: move it away or give --backup <path>\n`,
      );
      expect(fs.readFileSync(p).equals(copy)).toBe(true);
    },
  );

  it.skipIf(missing)(
    'a truncated copy: lowers the count to the whole entries, to a backup path of our choosing',
    () => {
      const p = path.join(dir, 'cut.log');
      const k = entries.findIndex((e) => e.index >= 200 && (e.payload?.length ?? 0) > 512);
      const cut = entries[k]!.offset + S + 512;
      fs.writeFileSync(p, original.subarray(0, cut));
      // Read as its valid prefix, with one line pointing to recover.
      const cutInfo = runBin('logwrites', ['info', p], dir);
      expect(cutInfo.status).toBe(0);
      expect(cutInfo.stderr).toBe(
        `logwrites: note: ${p} ends inside entry ${k} at byte ${entries[k]!.offset} (nr_entries says ${entries.length}), as a crashed log can; read as its ${k} whole entries (see: logwrites recover ${p})\n`,
      );
      const backup = path.join(dir, 'cut-super.bin');
      const w = runBin('logwrites', ['recover', p, '--write', '--backup', backup], dir);
      expect(w.stderr).toBe('');
      expect(w.stdout).toContain(`stopped    entry ${k} at byte ${entries[k]!.offset}: truncated payload`);
      expect(w.stdout).toContain(`rewrote    nr_entries ${entries.length} -> ${k}`);
      expect(fs.readFileSync(backup).equals(original.subarray(0, S))).toBe(true);
      const info = JSON.parse(runBin('logwrites', ['info', p, '--json'], dir).stdout);
      expect(info).toMatchObject({ nrEntries: k, entries: k });
    },
  );

  it.skipIf(missing)('a log that is not one, or --backup without --write: one line, exit 1, nothing written', () => {
    const p = path.join(dir, 'zero.log');
    fs.writeFileSync(
      p,
      encodeSuper({ nrEntries: 0, sectorSize: 512 }).map(() => 0),
    );
    const bad = runBin('logwrites', ['recover', p, '--write'], dir);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^logwrites: super at byte 0: bad magic 0x0 .*\n$/);
    expect(fs.existsSync(`${p}.super-backup`)).toBe(false);
    const usage = runBin('logwrites', ['recover', file, '--backup', path.join(dir, 'x')], dir);
    expect(usage.stderr).toBe('logwrites: --backup goes with --write\n');
    expect(usage.status).toBe(1);
  });
});
