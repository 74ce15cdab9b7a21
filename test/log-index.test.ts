// The entry index: after one pass, starting at an entry or a mark costs a lookup, and a walk
// resumed from the index sees exactly what a walk from the start sees.
import { describe, expect, it } from 'vitest';
import { Flag } from '../src/format.ts';
import { indexLog } from '../src/entry-index/build.ts';
import { markEntry, nextWithFlags, positionOf } from '../src/entry-index/log-index.ts';
import { LogReader } from '../src/reader.ts';
import { infoOf, logInfo } from '../src/commands/info.ts';
import { openSource } from '../src/node/io/file.ts';
import { KERNEL_FIXTURES, kernelLog, manifest } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  it('finds marks, flushes and entry positions without walking again', async () => {
    const source = openSource(kernelLog(name));
    try {
      const reader = await LogReader.open(source);
      const { index, summary } = await indexLog(reader, { name });
      const oracle = oracleRead(kernelLog(name)).entries;
      expect(summary.entries).toBe(manifest(name).nr_entries);
      for (const mark of manifest(name).marks_in_log)
        expect(markEntry(index, mark)).toBe(oracle.find((e) => e.mark === mark)!.index);
      expect(markEntry(index, 'no such mark')).toBe(-1);
      expect(nextWithFlags(index, 10, Flag.FUA)).toBe(
        oracle.find((e) => e.index >= 10 && e.flags & Flag.FUA)?.index ?? -1,
      );
      const mid = Math.floor(index.count / 2);
      const resumed = [];
      for await (const e of reader.entries({ from: positionOf(index, mid) }))
        resumed.push([e.index, e.offset, e.sector, e.nrSectors]);
      expect(resumed).toEqual(oracle.slice(mid).map((e) => [e.index, e.offset, e.sector, e.nrSectors]));
      expect(() => positionOf(index, index.count)).toThrow(/not in the index/);
    } finally {
      source.close();
    }
  });

  it('info is the summary the viewer shows, and counts what the kernel logged', async () => {
    const source = openSource(kernelLog(name));
    try {
      const reader = await LogReader.open(source);
      const m = manifest(name);
      const info = await logInfo(reader);
      expect(info).toEqual(infoOf((await indexLog(reader, { name })).summary));
      const oracle = oracleRead(kernelLog(name)).entries;
      const last = oracle.at(-1)!;
      expect(info).toMatchObject({
        entries: m.nr_entries,
        trailingEntries: 0,
        marks: m.marks_in_log.length,
        firstMark: m.marks_in_log[0],
        lastMark: 'dm-log-writes-end',
        logBytes: source.size,
      });
      expect(info.flagCounts).toEqual({ FLUSH: 0, FUA: 0, DISCARD: 0, MARK: 0, METADATA: 0, ...m.flag_counts });
      expect(info.usedBytes).toBe(last.offset + reader.sectorSize + (last.payload?.length ?? 0));
      expect(info.payloadBytes).toBe(oracle.reduce((n, e) => n + (e.payload?.length ?? 0), 0));
      expect(info.discardedBytes).toBe(
        oracle.filter((e) => e.flags & Flag.DISCARD).reduce((n, e) => n + e.nrSectors * reader.sectorSize, 0),
      );
      expect(info.highestSector).toBe(
        Math.max(...oracle.filter((e) => e.nrSectors).map((e) => e.sector + e.nrSectors - 1)),
      );
    } finally {
      source.close();
    }
  });
});
