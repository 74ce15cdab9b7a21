// The reader (src/reader.ts) on kernel logs and small built ones: the entries it walks are
// the ones an independent reading of the format finds, payloads are the log's bytes, and a
// cut or over-long log reads as the format says.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Flag } from '../src/format.ts';
import {
  Advance,
  AheadChoice,
  LogReader,
  memorySource,
  type ByteSource,
  type CursorOptions,
  type Entry,
} from '../src/reader.ts';
import { LogFormatError } from '../src/errors.ts';
import { KERNEL_FIXTURES, kernelLog, manifest } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';
import { oddLogs, SAMPLE_ENTRIES, sampleLog } from './support/sample-logs.ts';

const fields = (e: Entry) => [e.index, e.offset, e.sector, e.nrSectors, e.flags, e.mark];

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const bytes = new Uint8Array(fs.readFileSync(kernelLog(name)));
  const oracle = oracleRead(kernelLog(name));

  it('walks the entries the independent reader finds, with their payloads, in batches and with the cursor alike', async () => {
    const reader = await LogReader.open(memorySource(bytes));
    expect([reader.sectorSize, reader.nrEntries]).toEqual([manifest(name).sectorsize, manifest(name).nr_entries]);
    const walked: Entry[] = [];
    for await (const b of reader.batches({ payloads: true, chunkSize: 1 << 16 })) {
      for (const e of b.entries) {
        walked.push(e);
        const o = oracle.entries[e.index]!;
        expect(e.payloadLength).toBe(o.payload?.length ?? 0);
        if (o.payload)
          expect(Buffer.from(await reader.payloadBytes(e, b)).equals(o.payload), `payload of entry ${e.index}`).toBe(
            true,
          );
      }
    }
    expect(walked.map(fields)).toEqual(
      oracle.entries.map((o) => [o.index, o.offset, o.sector, o.nrSectors, o.flags, o.mark]),
    );
    const c = reader.cursor();
    const seen: unknown[] = [];
    for (let step = c.advance(); step !== Advance.End; step = c.advance()) {
      if (step === Advance.Read) await c.fill();
      else seen.push(fields(c));
    }
    expect(seen).toEqual(walked.map(fields));
  });

  it('reads ahead (a second buffer filled while one is parsed) to the same entries and payloads, at any chunk size', async () => {
    // Also over a log cut under the walk (the source still says its old size): the same error at the same entry.
    for (const held of [bytes, bytes.subarray(0, Math.floor(bytes.length / 2) + 100)]) {
      const reader = await LogReader.open(laterSource(held, bytes.length));
      for (const payloads of [false, true])
        for (const chunkSize of [reader.sectorSize, 4096 + reader.sectorSize, 65536 * 3 + 512]) {
          const plain = await walk(reader, { payloads, chunkSize }, held);
          // As the walk chooses (its probe switches way every few chunks), and ahead at every chunk.
          for (const readAhead of [true, new Always()])
            expect(await walk(reader, { payloads, chunkSize, reuseBuffer: true, readAhead }, held)).toEqual(plain);
        }
    }
  });

  it('reads ahead where that took less time per byte in its probe, plainly where it did not', () => {
    const { GROUP, PROBE } = AheadChoice;
    for (const [aheadCost, plainCost, want] of [
      [1, 2, 'ahead'],
      [2, 1, 'plain'],
    ] as const) {
      let clock = 0;
      const choice = new AheadChoice(() => clock);
      const ways: boolean[] = [];
      for (let fill = 0; fill < GROUP + 2 * PROBE + 10; fill++) {
        const ahead = choice.next(1024);
        ways.push(ahead);
        // The warm-up group costs a lot, and so does the first fill of each group that reads
        // ahead (nothing was read ahead for it): neither may count.
        const first = fill % GROUP === 0 && ahead;
        clock += fill < GROUP || first ? 1000 : ahead ? aheadCost : plainCost;
      }
      expect(ways.slice(0, GROUP * 3)).toEqual([
        ...Array(GROUP).fill(false),
        ...Array(GROUP).fill(true),
        ...Array(GROUP).fill(false),
      ]);
      expect(choice.choice).toBe(want);
      expect(new Set(ways.slice(GROUP + 2 * PROBE))).toEqual(new Set([want === 'ahead']));
    }
  });

  it('resumes a walk at any entry', async () => {
    const reader = await LogReader.open(memorySource(bytes));
    const mid = oracle.entries[Math.floor(oracle.entries.length / 2)]!;
    const rest: unknown[] = [];
    for await (const e of reader.entries({ from: { index: mid.index, offset: mid.offset } })) rest.push(e.index);
    expect(rest).toEqual(oracle.entries.slice(mid.index).map((o) => o.index));
  });
});

/** Bytes as a file source is: reads in place, now or on another thread (a macrotask later). */
function laterSource(bytes: Uint8Array, size = bytes.length): ByteSource {
  const readInto = (offset: number, into: Uint8Array) => {
    const got = bytes.subarray(offset, Math.min(bytes.length, offset + into.length));
    into.set(got);
    return got.length;
  };
  return {
    size,
    read: (offset, length) => bytes.slice(offset, Math.min(bytes.length, offset + length)),
    readInto,
    readIntoLater: (offset, into) => new Promise((resolve) => setImmediate(() => resolve(readInto(offset, into)))),
  };
}

/** Every entry a cursor walk reaches, whether the payload it holds (if it holds it) is the log's, or the error it ends with. */
async function walk(reader: LogReader, opts: CursorOptions, bytes: Uint8Array): Promise<unknown[]> {
  const c = reader.cursor(opts);
  const seen: unknown[] = [];
  const payloadRight = () =>
    !c.payloadInBuffer ||
    Buffer.from(c.payload()!).equals(bytes.subarray(c.payloadOffset, c.payloadOffset + c.payloadLength));
  try {
    for (let step = c.advance(); step !== Advance.End; step = c.advance()) {
      if (step === Advance.Read) await c.fill();
      else seen.push([...fields(c), payloadRight()]);
    }
  } catch (e) {
    seen.push(String(e));
  }
  return seen;
}

describe('small logs', () => {
  const S = 512;
  const log = sampleLog(S);

  it('reads a payload cut by the end of the log as a truncated payload of that entry', async () => {
    const big = SAMPLE_ENTRIES.findIndex((e) => e.nrSectors === 8);
    const cut = log.offsets[big]! + S + 3 * S;
    const reader = await LogReader.open(memorySource(log.bytes.subarray(0, cut)));
    // The cut entry is yielded (its header is whole); reading its payload is what fails.
    let last: Entry | undefined;
    for await (const x of reader.entries()) if ((last = x).index === big) break;
    const e = last!;
    const err = await reader.payloadBytes(e).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(LogFormatError);
    expect((err as LogFormatError).kind).toBe('truncated-payload');
    expect((err as LogFormatError).message).toBe(
      `entry ${big} at byte ${e.offset}: truncated payload: ${8 * S} bytes need the log to reach byte ${e.payloadOffset + 8 * S}, it ends at ${cut}`,
    );
  });

  it('stops at nr_entries unless asked to read past it, then stops silently where entries stop', async () => {
    const tail = oddLogs().find((l) => l.name === 'uncounted-tail')!;
    const reader = await LogReader.open(memorySource(tail.bytes));
    const count = async (pastEnd: boolean) => {
      let n = 0;
      for await (const _ of reader.entries({ pastEnd })) n++;
      return n;
    };
    expect(await count(false)).toBe(6);
    expect(await count(true)).toBe(SAMPLE_ENTRIES.length);
  });

  it('refuses a malformed counted entry after yielding the good ones before it', async () => {
    const bytes = log.bytes.slice();
    bytes.fill(0, log.offsets[4]!, log.offsets[4]! + S);
    const reader = await LogReader.open(memorySource(bytes));
    const got: number[] = [];
    const err = await (async () => {
      for await (const e of reader.entries()) got.push(e.index);
    })().catch((x: unknown) => x);
    expect(got).toEqual([0, 1, 2, 3]);
    expect((err as LogFormatError).message).toBe(
      `entry 4 at byte ${log.offsets[4]}: malformed entry: flags 0 and nr_sectors 0 (zeroed or unwritten sector)`,
    );
  });

  it('decodes marks and discards as written', async () => {
    const reader = await LogReader.open(memorySource(log.bytes));
    const entries: Entry[] = [];
    for await (const e of reader.entries()) entries.push(e);
    expect(entries.filter((e) => e.flags & Flag.MARK).map((e) => e.mark)).toEqual(['one', 'two', 'dm-log-writes-end']);
    const discard = entries.find((e) => e.flags & Flag.DISCARD)!;
    expect([discard.nrSectors, discard.payloadLength, discard.payloadOffset]).toEqual([1, 0, discard.offset + S]);
  });
});

/** Reads ahead at every chunk, whatever it costs. */
class Always extends AheadChoice {
  override next(): boolean {
    return true;
  }
}
