// kill -9 of `logwrites serve` at seeded random points of a workload of pipelined writes, FUA
// writes and flushes, 50 times. After each crash the log must open cleanly (`logwrites info`
// exits 0 and every entry within nr_entries walks), hold every write the client was promised,
// namely each acknowledged FUA write and each write acknowledged before the client sent a flush that
// was then acknowledged, hold nothing the client did not send, and replaying the prefix that
// ends with the last promise gives exactly the promised bytes.
//
// Every write goes to sectors no other write touches, and every 8 bytes of its payload say
// (write id, 512-byte sector), so any sector of a log or an image tells which write it came from.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Flag } from '../../src/format.ts';
import { LogReader, type Entry } from '../../src/reader.ts';
import { replay } from '../../src/replay/loop.ts';
import { openSource } from '../../src/node/io/file.ts';
import { scratchDir } from '../support/fixtures.ts';
import { RawNbd, type Reply } from '../support/nbd-client.ts';
import { Cmd, CmdFlag } from '../../src/node/nbd/protocol.ts';
import { startServe } from '../support/serve-process.ts';
import { builtBins, fixedTarget, rng, runBin, type Rng } from './hostile.ts';

const ITERATIONS = 50;
const SIZE = 32 << 20;
const BLOCK = 4096;
const BLOCKS = SIZE / BLOCK;

interface Write {
  id: number;
  offset: number;
  length: number;
  fua: boolean;
  /** Event numbers (sends and acknowledgements share one clock); ack undefined when none came. */
  sent: number;
  ack?: number;
}

interface Flush {
  sent: number;
  ack?: number;
}

/** The payload of write `id` at `offset`: every 8 bytes are (id, 512-byte sector). */
function pattern(id: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let at = 0; at < length; at += 8) {
    b.writeUInt32LE(id, at);
    b.writeUInt32LE((offset + at) >>> 9, at + 4);
  }
  return b;
}

/** Blocks not yet written, handed out as random runs so that no sector is written twice. */
function allocator(r: Rng) {
  const used = new Uint8Array(BLOCKS);
  return (blocks: number): number | undefined => {
    for (let tries = 0; tries < 16; tries++) {
      const first = r.int(BLOCKS - blocks + 1);
      if (used.subarray(first, first + blocks).some((u) => u)) continue;
      used.fill(1, first, first + blocks);
      return first * BLOCK;
    }
    return undefined;
  };
}

interface Outcome {
  writes: Write[];
  flushes: Flush[];
  killedAt: number;
  /** What the event that triggered the kill was. */
  killPoint: string;
}

/** Run the workload against a fresh server and kill -9 it at the seeded point. */
async function crashRun(dir: string, seed: number, S: number): Promise<Outcome> {
  const r = rng(seed);
  const server = await startServe(
    [
      '--dev',
      'data.img',
      '--log',
      'log.img',
      '--socket',
      'nbd.sock',
      '--size',
      String(SIZE),
      '--sectorsize',
      String(S),
    ],
    dir,
  );
  const c = await RawNbd.connect(path.join(dir, 'nbd.sock'));
  await c.go();
  const depth = 1 + r.int(16);
  const killAt = 20 + r.int(400);
  let clock = 0;
  let killPoint = '';
  const tick = (what: string) => {
    clock++;
    if (clock === killAt) {
      killPoint = what;
      server.proc.kill('SIGKILL');
    }
    return clock;
  };
  const place = allocator(r);
  const writes: Write[] = [];
  const flushes: Flush[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<Reply>, done: (ok: boolean) => void) => {
    const t = p.then((reply) => done(reply.error === 0));
    inFlight.add(t);
    void t.finally(() => inFlight.delete(t));
  };
  for (let op = 0; op < 4000 && clock < killAt; op++) {
    while (inFlight.size >= depth) await Promise.race(inFlight);
    if (clock >= killAt) break;
    const roll = r.next();
    if (roll < 0.15) {
      const f: Flush = { sent: tick('flush sent') };
      flushes.push(f);
      track(c.request(Cmd.FLUSH, 0, 0), (ok) => ok && (f.ack = tick('flush acknowledged')));
      continue;
    }
    const blocks = 1 + r.int(8);
    const offset = place(blocks);
    if (offset === undefined) break;
    const w: Write = { id: writes.length + 1, offset, length: blocks * BLOCK, fua: roll < 0.3, sent: 0 };
    writes.push(w);
    w.sent = tick(w.fua ? 'FUA write sent' : 'write sent');
    const data = pattern(w.id, w.offset, w.length);
    track(
      c.request(Cmd.WRITE, w.offset, w.length, { data, flags: w.fua ? CmdFlag.FUA : 0 }),
      (ok) => ok && (w.ack = tick(w.fua ? 'FUA write acknowledged' : 'write acknowledged')),
    );
  }
  if (server.proc.exitCode === null && !killPoint) {
    killPoint = 'end of workload';
    server.proc.kill('SIGKILL');
  }
  await server.kill();
  // The closed socket answers what is left with error -1; nothing counts as acknowledged.
  await Promise.all(inFlight);
  return { writes, flushes, killedAt: clock, killPoint };
}

/** The writes the client may rely on: acknowledged FUA writes, and writes acknowledged before an acknowledged flush was sent. */
function promised(o: Outcome): Write[] {
  const lastFlushSent = Math.max(0, ...o.flushes.filter((f) => f.ack !== undefined).map((f) => f.sent));
  return o.writes.filter((w) => w.ack !== undefined && (w.fua || w.ack < lastFlushSent));
}

async function logEntries(log: string): Promise<{ reader: LogReader; entries: Entry[]; close(): void }> {
  const src = openSource(log);
  const reader = await LogReader.open(src);
  const entries: Entry[] = [];
  for await (const e of reader.entries({ checkPadding: true })) entries.push(e);
  return { reader, entries, close: () => src.close() };
}

const why = builtBins();
if (why) console.warn(`skipping the NBD crash test: ${why}`);

describe.skipIf(!!why)('logwrites serve, kill -9 at random points, 50 times', () => {
  const dir = scratchDir('nbd-crash');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('every crash leaves a log that opens cleanly, holds every promised write and replays its promised prefix exactly', async () => {
    const figures = {
      runs: 0,
      writes: 0,
      acked: 0,
      promised: 0,
      flushesAcked: 0,
      fuaAcked: 0,
      logged: 0,
      lost: 0,
      points: new Map<string, number>(),
    };
    for (let i = 0; i < ITERATIONS; i++) {
      const seed = 0xc0ffee + i;
      const S = i % 2 ? 4096 : 512;
      const at = `iteration ${i} (seed ${seed}, sectorsize ${S})`;
      for (const f of ['data.img', 'log.img']) fs.rmSync(path.join(dir, f), { force: true });
      const o = await crashRun(dir, seed, S);
      const log = path.join(dir, 'log.img');

      const info = runBin('logwrites', ['info', log], dir);
      expect(info.status, `${at}: logwrites info: ${info.stderr}`).toBe(0);
      const { reader, entries, close } = await logEntries(log);
      try {
        // Each logged write is one the client sent, whole, where it sent it, with its FUA flag.
        const byId = new Map(o.writes.map((w) => [w.id, w]));
        const entryOf = new Map<number, number>();
        const flushEntries: number[] = [];
        for (const e of entries) {
          if (e.flags & Flag.MARK) continue;
          if (!e.nrSectors) {
            expect(e.flags & Flag.FLUSH, `${at}: entry ${e.index} is neither write nor flush`).toBeTruthy();
            flushEntries.push(e.index);
            continue;
          }
          const payload = Buffer.from(await reader.payloadBytes(e));
          const w = byId.get(payload.readUInt32LE(0));
          expect(w, `${at}: entry ${e.index} holds a write the client never sent`).toBeDefined();
          expect([e.sector * S, e.nrSectors * S, !!(e.flags & Flag.FUA)], `${at}: entry ${e.index}`).toEqual([
            w!.offset,
            w!.length,
            w!.fua,
          ]);
          expect(payload.equals(pattern(w!.id, w!.offset, w!.length)), `${at}: entry ${e.index} payload`).toBe(true);
          expect(entryOf.has(w!.id), `${at}: write ${w!.id} logged twice`).toBe(false);
          entryOf.set(w!.id, e.index);
        }

        // Nothing promised is missing, and the prefix up to the last promise replays to exactly it.
        const promises = promised(o);
        const lost = promises.filter((w) => !entryOf.has(w.id));
        expect(
          lost.map((w) => w.id),
          `${at}: promised writes missing from the log (killed after ${o.killPoint})`,
        ).toEqual([]);
        const ackedFlushes = o.flushes.filter((f) => f.ack !== undefined).length;
        expect(flushEntries.length, `${at}: flush entries`).toBeGreaterThanOrEqual(ackedFlushes);
        const last = Math.max(
          -1,
          ...promises.map((w) => entryOf.get(w.id)!),
          ackedFlushes ? flushEntries[ackedFlushes - 1]! : -1,
        );
        const image = fixedTarget(SIZE);
        if (last >= 0) await replay(reader, image, { visit: (e) => (e.index >= last ? 'stop' : 'next') });
        const bytes = Buffer.from(image.image.buffer, image.image.byteOffset, image.image.length);
        for (const w of promises) {
          expect(
            bytes.subarray(w.offset, w.offset + w.length).equals(pattern(w.id, w.offset, w.length)),
            `${at}: write ${w.id} after replaying the prefix`,
          ).toBe(true);
        }
        // Elsewhere: whole writes that completed, or zeros.
        for (const w of o.writes) {
          const got = bytes.subarray(w.offset, w.offset + w.length);
          const whole = got.equals(pattern(w.id, w.offset, w.length));
          expect(whole || got.every((b) => b === 0), `${at}: write ${w.id} is torn in the replayed prefix`).toBe(true);
          if (whole)
            expect(entryOf.get(w.id)! <= last, `${at}: write ${w.id} replayed from outside the prefix`).toBe(true);
          got.fill(0);
        }
        expect(
          bytes.every((b) => b === 0),
          `${at}: bytes no write put there`,
        ).toBe(true);
        expect(image.overruns).toBe(0);

        figures.runs++;
        figures.writes += o.writes.length;
        figures.acked += o.writes.filter((w) => w.ack !== undefined).length;
        figures.promised += promises.length;
        figures.flushesAcked += ackedFlushes;
        figures.fuaAcked += o.writes.filter((w) => w.fua && w.ack !== undefined).length;
        figures.logged += entryOf.size;
        figures.lost += lost.length;
        figures.points.set(o.killPoint, (figures.points.get(o.killPoint) ?? 0) + 1);
      } finally {
        close();
      }
    }
    console.log(
      `NBD crash consistency: ${figures.runs} kill -9 runs, ${figures.writes} writes sent, ${figures.acked} acknowledged, ` +
        `${figures.promised} promised (by ${figures.flushesAcked} acknowledged flushes and ${figures.fuaAcked} acknowledged FUA writes), ${figures.logged} found in the logs, ` +
        `${figures.lost} lost; killed after: ${[...figures.points].map(([k, n]) => `${k} ×${n}`).join(', ')}`,
    );
    expect(figures.runs).toBe(ITERATIONS);
  }, 240_000);
});
