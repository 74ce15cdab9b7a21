import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { END_MARK, Flag, flagNames } from '../src/format.ts';
import { LogReader, memorySource, type Entry } from '../src/reader.ts';
import { replay, type ReplayTarget } from '../src/replay/loop.ts';
import { LogWriter, type Io, type LogDevice } from '../src/writer.ts';
import { openSource } from '../src/node/io/file.ts';
import { KERNEL_FIXTURES, kernelLog, manifest } from './support/fixtures.ts';
import { LogFullError } from '../src/errors.ts';

/** A log device in memory that also counts syncs. */
class MemoryLog implements LogDevice {
  bytes = new Uint8Array(0);
  syncs = 0;
  write(offset: number, parts: readonly Uint8Array[]): void {
    let end = offset;
    for (const p of parts) end += p.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
      grown.set(this.bytes);
      this.bytes = grown;
    }
    for (const p of parts) {
      this.bytes.set(p, offset);
      offset += p.length;
    }
  }
  sync(): void {
    this.syncs++;
  }
}

/** A data device in memory, for replay comparisons. */
function memoryDisk(size: number): ReplayTarget & { bytes: Uint8Array } {
  const bytes = new Uint8Array(size);
  return {
    bytes,
    write(offset, parts) {
      for (const p of parts) {
        bytes.set(p, offset);
        offset += p.length;
      }
    },
    zero: (offset, length) => void bytes.fill(0, offset, offset + length),
    sync: () => {},
  };
}

async function entriesOf(log: MemoryLog): Promise<Entry[]> {
  const r = await LogReader.open(memorySource(log.bytes));
  const out: Entry[] = [];
  for await (const e of r.entries({ checkPadding: true })) out.push(e);
  return out;
}

/** `W<sector>` for a write, `D<sector>` for a discard, the mark text, or the flag names. */
function describeEntry(e: Entry): string {
  if (e.flags & Flag.MARK) return e.mark!;
  if (e.flags & Flag.DISCARD) return `D${e.sector}`;
  if (e.nrSectors) return `W${e.sector}${e.flags ? `:${flagNames(e.flags)}` : ''}`;
  return flagNames(e.flags);
}

function fill(S: number, n: number, byte: number): Uint8Array[] {
  return [new Uint8Array(S * n).fill(byte)];
}

for (const S of [512, 4096]) {
  describe(`LogWriter, sectorsize ${S}`, () => {
    const write = (sector: number, byte: number, extra: Partial<Io> = {}): Io =>
      ({ kind: 'write', sector, data: fill(S, 1, byte), ...extra }) as Io;

    it("logs the seed's W1,W2,W3,C3,C2,Wflush,C1,Cflush as W3, W2, flush, then W1 at the next flush", async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      const w1 = w.issue(write(1, 1));
      const w2 = w.issue(write(2, 2));
      const w3 = w.issue(write(3, 3));
      await w.complete(w3);
      await w.complete(w2);
      const f = w.issue({ kind: 'flush' });
      await w.complete(w1);
      await w.complete(f);
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W3', 'W2', 'FLUSH']);
      await w.complete(w.issue({ kind: 'flush' }));
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W3', 'W2', 'FLUSH', 'W1', 'FLUSH', END_MARK]);
    });

    it('replays WRITE 1, DISCARD 1, FLUSH as written: the block ends up zero', async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      await w.complete(w.issue(write(1, 0xaa)));
      await w.complete(w.issue({ kind: 'discard', sector: 1, nrSectors: 1 }));
      await w.complete(w.issue({ kind: 'flush' }));
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W1', 'D1', 'FLUSH', END_MARK]);
      const disk = memoryDisk(4 * S);
      disk.bytes.fill(7);
      await replay(await LogReader.open(memorySource(log.bytes)), disk);
      expect(disk.bytes.subarray(S, 2 * S).every((b) => b === 0)).toBe(true);
      expect(disk.bytes[0]).toBe(7);
    });

    it('logs FUA writes on completion, ahead of older unflushed writes, durable with the super', async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      await w.complete(w.issue(write(1, 1)));
      const syncs = log.syncs;
      await w.complete(w.issue(write(2, 2, { fua: true })));
      expect(log.syncs).toBe(syncs + 2);
      const r = await LogReader.open(memorySource(log.bytes));
      expect(r.nrEntries).toBe(1);
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W2:FUA']);
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W2:FUA', 'W1', END_MARK]);
    });

    it('logs marks at once, between whatever is logged around them, and counts them in the super', async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      await w.mark('mkfs');
      await w.complete(w.issue(write(5, 5, { metadata: true })));
      await w.mark('between');
      await w.complete(w.issue({ kind: 'flush' }));
      await w.mark('fsync');
      expect((await LogReader.open(memorySource(log.bytes))).nrEntries).toBe(5);
      expect(w.status()).toBe(`5 ${((1 + 6) * S) / 512 - 1}`);
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual([
        'mkfs',
        'between',
        'W5:METADATA',
        'FLUSH',
        'fsync',
        END_MARK,
      ]);
    });

    it('splices writes that completed after the flush was issued into the next flush, in completion order', async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      const a = w.issue(write(1, 1));
      const b = w.issue(write(2, 2));
      const f = w.issue({ kind: 'flush' });
      await w.complete(b);
      const fua = w.issue(write(9, 9, { fua: true }));
      await w.complete(a);
      await w.complete(fua);
      await w.complete(f);
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W9:FUA', 'FLUSH', 'W2', 'W1', END_MARK]);
    });

    it('gives a cancelled flush its list back, so the next flush logs it', async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      await w.complete(w.issue(write(1, 1)));
      w.cancel(w.issue({ kind: 'flush' }));
      await w.complete(w.issue(write(2, 2)));
      await w.complete(w.issue({ kind: 'flush' }));
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W1', 'W2', 'FLUSH']);
    });

    it('runs out of log like the kernel: stops logging, keeps the overflowing entry counted in status', async () => {
      const log = new MemoryLog();
      // super + 3 one-sector entries (header + payload) would need 7 sectors; give it 6.
      const w = await LogWriter.create(log, { sectorSize: S, capacity: 6 * S });
      for (let i = 0; i < 3; i++) await w.complete(w.issue(write(i, i + 1, { fua: true })));
      // Entry 3 would end at sector 7 >= 6: logging stops with next at 7.
      expect(w.status()).toBe(`2 ${(7 * S) / 512 - 1} logging_disabled`);
      expect(w.loggingEnabled).toBe(false);
      await w.mark('ignored');
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['W0:FUA', 'W1:FUA']);
    });

    it("with onFull 'fail' refuses what would not fit and still closes with the end mark", async () => {
      const log = new MemoryLog();
      // 7 sectors: the super, the end mark's held sector, two one-sector writes (4), and the
      // last sector the kernel never uses; a third write or a mark must be refused.
      const w = await LogWriter.create(log, { sectorSize: S, onFull: 'fail', capacity: 7 * S });
      const a = w.issue(write(0, 1));
      const b = w.issue(write(1, 2));
      expect(() => w.issue(write(2, 3))).toThrow(LogFullError);
      await expect(w.mark('x')).rejects.toThrow(LogFullError);
      await w.complete(a);
      w.cancel(b);
      await w.mark('fits');
      await w.close();
      expect((await entriesOf(log)).map(describeEntry)).toEqual(['fits', 'W0', END_MARK]);
      expect(w.status()).toBe(`3 ${(5 * S) / 512 - 1}`);
    });

    it('groups FUA completions that arrive during a commit into one more commit', async () => {
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      const before = log.syncs;
      const done = [];
      for (let i = 0; i < 10; i++) done.push(w.complete(w.issue(write(i, i, { fua: true }))));
      await Promise.all(done);
      expect(log.syncs - before).toBeLessThanOrEqual(4);
      expect((await LogReader.open(memorySource(log.bytes))).nrEntries).toBe(10);
    });
  });
}

describe('LogWriter against kernel logs', () => {
  /**
   * A kernel log is itself an event sequence: plain writes come in runs that end at the FLUSH
   * that logged them, FUA writes and marks stand alone. Feeding it back must give the same
   * bytes and, at every mark, the status the kernel printed.
   */
  for (const name of KERNEL_FIXTURES) {
    it(`rebuilds ${name} byte for byte, with the kernel's status at each mark`, async () => {
      const m = manifest(name);
      const source = openSource(kernelLog(name));
      const reader = await LogReader.open(source);
      const S = reader.sectorSize;
      const log = new MemoryLog();
      const w = await LogWriter.create(log, { sectorSize: S });
      const statuses: string[] = [];
      for await (const batch of reader.batches({ payloads: true })) {
        for (const e of batch.entries) {
          if (e.flags & Flag.MARK) {
            if (e.mark === END_MARK) continue;
            await w.mark(e.mark!);
            statuses.push(`${e.mark}: 0 ${m.device_size / 512} log-writes ${w.status()}`);
            continue;
          }
          const flags = {
            fua: !!(e.flags & Flag.FUA),
            preflush: !!(e.flags & Flag.FLUSH),
            metadata: !!(e.flags & Flag.METADATA),
          };
          let io: Io;
          if (e.flags & Flag.DISCARD) io = { kind: 'discard', sector: e.sector, nrSectors: e.nrSectors, ...flags };
          else if (e.nrSectors === 0)
            io = { kind: 'flush', sector: e.sector, fua: flags.fua, metadata: flags.metadata };
          else
            io = { kind: 'write', sector: e.sector, data: [(await reader.payloadBytes(e, batch)).slice()], ...flags };
          await w.complete(w.issue(io));
        }
      }
      expect(statuses).toEqual(m.marks.map((x) => `${x.name}: ${x.status}`));
      expect(`0 ${m.device_size / 512} log-writes ${w.status()}`).toBe(m.status_final_before_remove);
      await w.close();
      source.close();
      const want = fs.readFileSync(kernelLog(name));
      const got = log.bytes.subarray(0, want.length);
      expect(crypto.createHash('sha256').update(got).digest('hex')).toBe(
        crypto.createHash('sha256').update(want).digest('hex'),
      );
    });
  }
});
