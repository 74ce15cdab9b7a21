// The entry index: after one pass, starting at an entry or a mark costs a lookup, and a walk
// resumed from the index sees exactly what a walk from the start sees.
import { describe, expect, it } from 'vitest';
import { Flag } from '../src/format.ts';
import { indexLog } from '../src/entry-index/build.ts';
import { markEntry, nextWithFlags, positionOf } from '../src/entry-index/log-index.ts';
import { LogReader } from '../src/reader.ts';
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
      for (const mark of manifest(name).marks_in_log) expect(markEntry(index, mark)).toBe(oracle.find((e) => e.mark === mark)!.index);
      expect(markEntry(index, 'no such mark')).toBe(-1);
      expect(nextWithFlags(index, 10, Flag.FUA)).toBe(oracle.find((e) => e.index >= 10 && e.flags & Flag.FUA)?.index ?? -1);
      const mid = Math.floor(index.count / 2);
      const resumed = [];
      for await (const e of reader.entries({ from: positionOf(index, mid) })) resumed.push([e.index, e.offset, e.sector, e.nrSectors]);
      expect(resumed).toEqual(oracle.slice(mid).map((e) => [e.index, e.offset, e.sector, e.nrSectors]));
      expect(() => positionOf(index, index.count)).toThrow(/not in the index/);
    } finally {
      source.close();
    }
  });
});
