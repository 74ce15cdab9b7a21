// Naming points and stretches of a log (src/range.ts): points as users write them, the range
// check before a replay, and the filters and point lookups `list`, `diff` and the viewer share.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Flag } from '../src/format.ts';
import { LogReader, memorySource, type Entry } from '../src/reader.ts';
import {
  checkOrder,
  filterEntries,
  parsePointText,
  pointText,
  resolvePoint,
  scanRange,
  touchesSectors,
  type EntryFilter,
} from '../src/range.ts';
import { PastTarget, PointNotFound, RangeNotFound } from '../src/errors.ts';
import { KERNEL_FIXTURES, kernelLog, manifest } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';
import { sampleLog } from './support/sample-logs.ts';

async function listed(reader: LogReader, f: EntryFilter): Promise<number[]> {
  const out: number[] = [];
  for await (const e of filterEntries(reader, f)) out.push(e.index);
  return out;
}

describe('points', () => {
  it('parse as users write them and print back the same', () => {
    for (const t of ['0', '123', 'end', 'mark:mkfs', 'mark:a#b', 'mark:one#2', 'mark:'])
      expect(pointText(parsePointText(t)!)).toBe(t);
    expect(parsePointText('mark:one#1')).toEqual({ mark: 'one' });
    expect(parsePointText('mark:one#0')).toEqual({ mark: 'one#0' });
    expect(['-1', 'x', '1.5', 'END'].map(parsePointText)).toEqual([undefined, undefined, undefined, undefined]);
    expect(() => checkOrder({ entry: 5 }, { entry: 4 })).toThrow(RangeNotFound);
  });
  it('touch sectors only when they overlap, and zero-length entries never do', () => {
    const r = { start: 10, end: 19 };
    expect([
      touchesSectors(0, 10, r),
      touchesSectors(0, 11, r),
      touchesSectors(19, 4, r),
      touchesSectors(20, 1, r),
      touchesSectors(12, 0, r),
    ]).toEqual([false, true, true, false, false]);
  });
});

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const m = manifest(name);
  const bytes = new Uint8Array(fs.readFileSync(kernelLog(name)));
  const oracle = oracleRead(kernelLog(name)).entries;
  const markAt = (text: string) => oracle.find((e) => e.mark === text)!.index;

  it('resolves points and filters entries as the independent reader sees them', async () => {
    const reader = await LogReader.open(memorySource(bytes));
    const [first, second] = m.marks_in_log as [string, string];
    expect(await resolvePoint(reader, { mark: first })).toBe(markAt(first));
    expect(await resolvePoint(reader, { end: true })).toBe(m.nr_entries - 1);
    expect(await resolvePoint(reader, { entry: 7 })).toBe(7);
    expect(await listed(reader, { flags: Flag.FUA })).toHaveLength(m.flag_counts.FUA ?? 0);
    expect(await listed(reader, { from: { mark: first }, to: { mark: second } })).toEqual(
      oracle.slice(markAt(first), markAt(second) + 1).map((e) => e.index),
    );
    const sectors = { start: 0, end: 2047 };
    expect(await listed(reader, { sectors })).toEqual(
      oracle
        .filter((e) => e.nrSectors && e.sector <= sectors.end && e.sector + e.nrSectors > sectors.start)
        .map((e) => e.index),
    );
  });

  it('scans a range between two marks: its entries, extent and payload, before anything is written', async () => {
    const reader = await LogReader.open(memorySource(bytes));
    const [first, second] = m.marks_in_log as [string, string];
    const r = await scanRange(reader, { from: { mark: first }, to: { mark: second } });
    const inRange = oracle.slice(markAt(first), markAt(second) + 1);
    expect([r.start.index, r.last?.index, r.entries]).toEqual([markAt(first), markAt(second), inRange.length]);
    expect(r.payloadBytes).toBe(inRange.reduce((n, e) => n + (e.payload?.length ?? 0), 0));
    expect(r.highestSector).toBe(
      Math.max(-1, ...inRange.filter((e) => e.nrSectors).map((e) => e.sector + e.nrSectors - 1)),
    );
    const fua = await scanRange(reader, { until: Flag.FUA });
    expect(fua.last?.index).toBe(oracle.find((e) => e.flags & Flag.FUA)!.index);
  });
});

describe('small logs', () => {
  const S = 512;
  const log = sampleLog(S);

  it('names a bound the log lacks, after the entries before it', async () => {
    const reader = await LogReader.open(memorySource(log.bytes));
    const got: Entry[] = [];
    const err = await (async () => {
      for await (const e of filterEntries(reader, { from: { mark: 'two' }, to: { entry: 50 } })) got.push(e);
    })().catch((e: unknown) => e);
    expect(got.map((e) => e.index)).toEqual([6, 7, 8, 9]);
    expect(err).toBeInstanceOf(PointNotFound);
    expect([(err as PointNotFound).role, (err as PointNotFound).message]).toEqual(['to', '50 is not in the log']);
    const from = await listed(reader, { from: { mark: 'one', nth: 2 } }).catch((e: unknown) => e);
    expect([(from as PointNotFound).role, (from as PointNotFound).message]).toEqual([
      'from',
      'mark:one#2 is not in the log',
    ]);
    await expect(resolvePoint(reader, { mark: 'three' })).rejects.toThrow(/^mark:three is not in the log$/);
  });

  it('refuses an entry past the target in sectors, or with force cuts only the discards to it', async () => {
    const reader = await LogReader.open(memorySource(log.bytes));
    const err = await scanRange(reader, { target: { sectors: 40 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PastTarget);
    expect((err as PastTarget).message).toBe(
      `entry 8 at byte ${log.offsets[8]} writes sectors 40..47, past the end of the target (40 sectors)`,
    );
    const forced = await scanRange(reader, { target: { sectors: 40, force: true } }, true);
    expect(forced.highestSector).toBe(47);
    expect(forced.map!.get(47)).toBe(log.offsets[8]! + S + 7 * S);
  });

  it('leaves discards out when asked, and counts only entries touching the sectors asked for', async () => {
    const reader = await LogReader.open(memorySource(log.bytes));
    const r = await scanRange(reader, { discards: false, sectors: { start: 0, end: 0 } }, true);
    expect([r.entries, r.highestSector, r.payloadBytes]).toEqual([10, 1, 2 * S]);
    expect(r.map!.get(0)).toBe(log.offsets[0]! + S);
  });
});
