// Hostile NBD clients against `logwrites serve`, run as its own process on a Unix socket.
// Every case checks the answer doc/proto.md asks for (an error reply, an option error, or a
// hard disconnect where the protocol allows one), that the server lets go of what the client
// held (its descriptors and memory, read from /proc), and that a well-behaved client is served
// during and after. At the end the server stops cleanly, `logwrites info` accepts the log, and
// replaying the log gives data.img, which holds exactly what was acknowledged.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir, zeroImage } from '../support/fixtures.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { builtBins, rng, runBin } from './hostile.ts';
import {
  Cmd,
  CmdFlag,
  Errno,
  IHAVEOPT,
  Opt,
  OPT_REPLY_MAGIC,
  Rep,
  REQUEST_BYTES,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
} from '../../src/node/nbd/protocol.ts';

const S = 4096;
const MiB = 1 << 20;
const SIZE = 16 * MiB;
const { EINVAL } = Errno;
const FUA = CmdFlag.FUA;
/** How long any single wait on the server may take before the case fails. */
const PATIENCE = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client that sends exactly the bytes it is told to, and reads with a deadline. */
class Wire {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;
  private cookie = 1n;

  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
      this.wake?.();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    sock.on('error', () => undefined);
  }

  static async open(socketPath: string): Promise<Wire> {
    const sock = net.createConnection(socketPath);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    opened++;
    return new Wire(sock);
  }

  private async until(ready: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return true;
  }

  async read(n: number, ms = PATIENCE): Promise<Buffer> {
    await this.until(() => this.buf.length >= n || this.ended, ms);
    if (this.buf.length < n)
      throw new Error(
        this.ended ? `server closed with ${this.buf.length} of ${n} bytes` : `no ${n} bytes within ${ms} ms`,
      );
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** True when the server hung up within `ms` (whatever it sent before is dropped). */
  async hungUp(ms = PATIENCE): Promise<boolean> {
    return this.until(() => this.ended, ms);
  }

  get closed(): boolean {
    return this.ended;
  }

  send(bytes: Uint8Array): boolean {
    return this.sock.write(bytes);
  }

  /** Send respecting the socket's own backpressure; false when it stays full for `ms`. */
  async sendPatiently(bytes: Uint8Array, ms: number): Promise<boolean> {
    if (this.sock.write(bytes)) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.sock.once('drain', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** The server's greeting, then our flags. */
  async greet(flags = 3): Promise<void> {
    const hello = await this.read(18);
    expect(hello.readBigUInt64BE(8)).toBe(IHAVEOPT);
    const f = Buffer.alloc(4);
    f.writeUInt32BE(flags >>> 0);
    this.send(f);
  }

  /** An option header that may lie about its length, then whatever data is given. */
  option(opt: number, data: Uint8Array = new Uint8Array(0), claimed = data.length): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(IHAVEOPT, 0);
    h.writeUInt32BE(opt >>> 0, 8);
    h.writeUInt32BE(claimed >>> 0, 12);
    this.send(Buffer.concat([h, data]));
  }

  async optionReply(): Promise<{ opt: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    expect(h.readBigUInt64BE(0)).toBe(OPT_REPLY_MAGIC);
    return { opt: h.readUInt32BE(8), type: h.readUInt32BE(12), data: Buffer.from(await this.read(h.readUInt32BE(16))) };
  }

  /** Option replies up to the final one (not NBD_REP_SERVER or NBD_REP_INFO). */
  async optionReplies(): Promise<{ opt: number; type: number; data: Buffer }[]> {
    const out = [await this.optionReply()];
    while (out.at(-1)!.type === 2 || out.at(-1)!.type === 3) out.push(await this.optionReply());
    return out;
  }

  /** A full, correct negotiation of the default export. */
  async go(): Promise<void> {
    await this.greet();
    this.option(Opt.GO, goData(''));
    const replies = await this.optionReplies();
    expect(replies.at(-1)!.type).toBe(Rep.ACK);
  }

  request(
    type: number,
    offset: bigint | number,
    length: number,
    opts: { flags?: number; payload?: Uint8Array } = {},
  ): bigint {
    const h = Buffer.alloc(REQUEST_BYTES);
    const cookie = this.cookie++;
    h.writeUInt32BE(REQUEST_MAGIC, 0);
    h.writeUInt16BE(opts.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length >>> 0, 24);
    this.send(opts.payload ? Buffer.concat([h, opts.payload]) : h);
    requests++;
    return cookie;
  }

  async reply(): Promise<{ error: number; cookie: bigint }> {
    const r = await this.read(16);
    expect(r.readUInt32BE(0)).toBe(SIMPLE_REPLY_MAGIC);
    return { error: r.readUInt32BE(4), cookie: r.readBigUInt64BE(8) };
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** NBD_OPT_GO / NBD_OPT_INFO data: name and no info requests. */
function goData(name: string): Buffer {
  const n = Buffer.from(name);
  const d = Buffer.alloc(4 + n.length + 2);
  d.writeUInt32BE(n.length, 0);
  n.copy(d, 4);
  return d;
}

let dir: string;
let server: ServeProcess;
let pid: number;
let good: Wire;
let opened = 0;
let requests = 0;
/** What data.img must hold: every acknowledged write, nothing else. */
const model = Buffer.alloc(SIZE);
const random = rng(0x6e6264);
let baseFds = 0;
let baseRssKiB = 0;

function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

function openFds(): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** The server's descriptors come back to what it held before the case. */
async function fdsReleased(): Promise<void> {
  for (let i = 0; i < 200 && openFds() > baseFds; i++) await sleep(25);
  expect(openFds(), 'server descriptors after the hostile client left').toBeLessThanOrEqual(baseFds);
}

/** A READ that must succeed; its data. */
async function readAt(w: Wire, offset: number, length: number): Promise<Buffer> {
  const c = w.request(Cmd.READ, offset, length);
  expect(await w.reply()).toEqual({ error: 0, cookie: c });
  return w.read(length);
}

/** The good client writes, reads back and flushes: the server still serves everybody else. */
async function stillServing(): Promise<void> {
  const blocks = 1 + random.int(16);
  const offset = random.int((4 * MiB) / S - blocks) * S;
  const data = Buffer.from(random.bytes(blocks * S));
  const w = good.request(Cmd.WRITE, offset, data.length, { payload: data, flags: random.int(2) ? FUA : 0 });
  expect(await good.reply()).toEqual({ error: 0, cookie: w });
  data.copy(model, offset);
  expect((await readAt(good, offset, data.length)).equals(data)).toBe(true);
  const f = good.request(Cmd.FLUSH, 0, 0);
  expect(await good.reply()).toEqual({ error: 0, cookie: f });
}

/**
 * Send 1 MiB READs without ever reading a reply, until the socket stops taking them (the
 * server stopped reading: backpressure) or the server's memory shows it buffering replies.
 */
async function floodUnread(w: Wire): Promise<{ sent: number; blocked: boolean; grewKiB: number }> {
  w.sock.pause();
  const before = status('VmRSS');
  const perBatch = 1024;
  let sent = 0;
  let grewKiB = 0;
  // Up to 256 Ki requests: 256 GiB of replies, far more than the server may hold for one client.
  while (sent < 256 * 1024) {
    const batch = Buffer.alloc(REQUEST_BYTES * perBatch);
    for (let i = 0; i < perBatch; i++) {
      batch.writeUInt32BE(REQUEST_MAGIC, i * REQUEST_BYTES);
      batch.writeUInt16BE(Cmd.READ, i * REQUEST_BYTES + 6);
      batch.writeBigUInt64BE(BigInt(sent + i + 1), i * REQUEST_BYTES + 8);
      batch.writeBigUInt64BE(BigInt(((sent + i) % 16) * MiB), i * REQUEST_BYTES + 16);
      batch.writeUInt32BE(MiB, i * REQUEST_BYTES + 24);
    }
    const taken = await w.sendPatiently(batch, 2000);
    sent += perBatch;
    requests += perBatch;
    grewKiB = Math.max(grewKiB, status('VmRSS') - before);
    if (!taken) return { sent, blocked: true, grewKiB };
    if (grewKiB > 1024 * 1024) break;
  }
  return { sent, blocked: false, grewKiB };
}

/** After a case: the hostile connections are gone, their descriptors freed, the rest served. */
async function recovered(): Promise<void> {
  await stillServing();
  await fdsReleased();
}

const why = builtBins();
if (why) console.warn(`skipping the hostile NBD client tests: ${why}`);

describe.skipIf(!!why)('logwrites serve against hostile NBD clients', () => {
  beforeAll(async () => {
    dir = scratchDir('nbd-hostile');
    server = await startServe(
      ['--dev', 'data.img', '--log', 'log.img', '--socket', 'nbd.sock', '--size', '16M', '--sectorsize', String(S)],
      dir,
    );
    pid = server.proc.pid!;
    good = await Wire.open(path.join(dir, 'nbd.sock'));
    await good.go();
    await stillServing();
    baseFds = openFds();
    baseRssKiB = status('VmRSS');
  });
  afterAll(async () => {
    if (server?.proc.exitCode === null) await server.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const connect = () => Wire.open(path.join(dir, 'nbd.sock'));

  it('hangs up at every point of the handshake: the server lets go each time', async () => {
    const cuts: ((w: Wire) => Promise<void> | void)[] = [
      () => undefined,
      async (w) => {
        await w.read(18);
        w.send(Buffer.from([0, 0]));
      },
      async (w) => {
        await w.greet();
        w.send(Buffer.alloc(10));
      },
      async (w) => {
        await w.greet();
        w.option(Opt.GO, goData('').subarray(0, 3), 6);
      },
      async (w) => {
        await w.greet();
        w.option(Opt.LIST);
      },
      async (w) => {
        await w.go();
        w.send(Buffer.alloc(13));
      },
    ];
    for (const cut of cuts) {
      const w = await connect();
      await cut(w);
      w.destroy();
    }
    await recovered();
  });

  it('unknown client flags, a wrong option magic and an unknown export for NBD_OPT_EXPORT_NAME end the session', async () => {
    const flags = await connect();
    await flags.greet(0xfffffffc);
    expect(await flags.hungUp()).toBe(true);

    const magic = await connect();
    await magic.greet();
    magic.send(Buffer.from('IHAVEOPS\0\0\0\x07\0\0\0\0', 'latin1'));
    expect(await magic.hungUp()).toBe(true);

    const name = await connect();
    await name.greet();
    name.option(Opt.EXPORT_NAME, Buffer.from('no-such-export'));
    expect(await name.hungUp()).toBe(true);
    await recovered();
  });

  it('unknown options get NBD_REP_ERR_UNSUP one by one, then NBD_OPT_GO still works; an endless stream of them is cut off', async () => {
    const w = await connect();
    await w.greet();
    const opts = [Opt.STARTTLS, Opt.STRUCTURED_REPLY, 0, 4, 9, 10, 11, 12, 0x7fffffff, 0xffffffff];
    for (let i = 0; i < 200; i++) {
      const opt = i < opts.length ? opts[i]! : 12 + random.int(0xfffffff0);
      w.option(opt, random.bytes(random.int(1024)));
      const r = await w.optionReply();
      expect([r.opt, r.type]).toEqual([opt, Rep.ERR_UNSUP]);
    }
    w.option(Opt.GO, goData(''));
    expect((await w.optionReplies()).at(-1)!.type).toBe(Rep.ACK);
    await readAt(w, 0, S);
    w.destroy();

    // A client that never stops haggling is denial of service, which allows a hard disconnect.
    const endless = await connect();
    await endless.greet();
    let sent = 0;
    for (; sent < 5000 && !endless.closed; sent++) {
      endless.option(99, Buffer.alloc(16));
      if (sent % 100 === 99) await sleep(1);
    }
    expect(await endless.hungUp()).toBe(true);
    expect(sent).toBeLessThan(5000);
    await recovered();
  });

  it('option lengths of 4 GiB - 1 and 64 KiB + 1 end the session without allocating them', async () => {
    const hwm = status('VmHWM');
    for (const claimed of [0xffffffff, 0x80000000, 64 * 1024 + 1]) {
      for (const opt of [Opt.GO, Opt.EXPORT_NAME, 1234]) {
        const w = await connect();
        await w.greet();
        w.option(opt, Buffer.alloc(4096, 0x41), claimed);
        expect(await w.hungUp(), `option ${opt} claiming ${claimed} bytes`).toBe(true);
      }
    }
    expect(status('VmHWM') - hwm, 'peak memory growth in KiB').toBeLessThan(64 * 1024);
    // The largest the server accepts is read in full and answered.
    const w = await connect();
    await w.greet();
    w.option(1234, Buffer.alloc(64 * 1024, 0x41));
    expect((await w.optionReply()).type).toBe(Rep.ERR_UNSUP);
    w.destroy();
    await recovered();
  });

  it('malformed NBD_OPT_INFO and NBD_OPT_GO get NBD_REP_ERR_INVALID, an unknown export NBD_REP_ERR_UNKNOWN, and haggling goes on', async () => {
    const w = await connect();
    await w.greet();
    const lying = Buffer.alloc(10);
    lying.writeUInt32BE(0xffffffff, 0);
    const countTooBig = goData('');
    countTooBig.writeUInt16BE(1000, 4);
    for (const opt of [Opt.INFO, Opt.GO]) {
      for (const data of [
        Buffer.alloc(0),
        Buffer.alloc(3),
        lying,
        countTooBig,
        Buffer.concat([goData(''), Buffer.alloc(1)]),
      ]) {
        w.option(opt, data);
        expect((await w.optionReplies()).at(-1)!.type).toBe(Rep.ERR_INVALID);
      }
      w.option(opt, goData('no-such-export'));
      expect((await w.optionReplies()).at(-1)!.type).toBe(Rep.ERR_UNKNOWN);
    }
    w.option(Opt.LIST, Buffer.alloc(1));
    expect((await w.optionReplies()).at(-1)!.type).toBe(Rep.ERR_INVALID);
    w.option(Opt.ABORT);
    expect((await w.optionReply()).type).toBe(Rep.ACK);
    expect(await w.hungUp()).toBe(true);
    await recovered();
  });

  it('requests beyond the export, misaligned, zero-length or of unknown type get EINVAL; payloads are skipped and the connection goes on', async () => {
    const w = await connect();
    await w.go();
    const top = 2n ** 64n - BigInt(S);
    const bad: [number, bigint | number, number, number?][] = [
      [Cmd.READ, SIZE, S],
      [Cmd.READ, SIZE - S, 2 * S],
      [Cmd.READ, top, S],
      [Cmd.READ, 2n ** 63n, S],
      [Cmd.WRITE, SIZE, S, S],
      [Cmd.WRITE, top, S, S],
      [Cmd.WRITE, SIZE - S, 2 * S, 2 * S],
      [Cmd.TRIM, SIZE - S, 2 * S],
      [Cmd.WRITE_ZEROES, top, S],
      [Cmd.READ, 512, S],
      [Cmd.READ, 0, 512],
      [Cmd.WRITE, 1, S, S],
      [Cmd.WRITE, 0, 1000, 1000],
      [Cmd.WRITE, 0, S + 1, S + 1],
      [Cmd.TRIM, 512, 512],
      [Cmd.WRITE_ZEROES, S, 100],
      [Cmd.READ, 0, 0],
      [Cmd.WRITE, 0, 0, 0],
      [Cmd.WRITE, S, 0, 0],
      [Cmd.TRIM, 0, 0],
      [Cmd.WRITE_ZEROES, 0, 0],
      [Cmd.CACHE, 0, S],
      [Cmd.BLOCK_STATUS, 0, S],
      [9, 0, S],
      [0xffff, 0, 0],
    ];
    const cookies = new Set<bigint>();
    for (const [type, offset, length, payload] of bad) {
      cookies.add(
        w.request(type, offset, length, { payload: payload === undefined ? undefined : Buffer.alloc(payload, 0xee) }),
      );
    }
    const data = Buffer.from(random.bytes(2 * S));
    const ok = w.request(Cmd.WRITE, 5 * MiB, data.length, { payload: data });
    const answered = new Map<bigint, number>();
    for (let i = 0; i <= bad.length; i++) {
      const r = await w.reply();
      answered.set(r.cookie, r.error);
    }
    for (const c of cookies) expect(answered.get(c), `request ${c}: ${bad[Number(c) - 1]}`).toBe(EINVAL);
    expect(answered.get(ok)).toBe(0);
    data.copy(model, 5 * MiB);
    // Odd flags on a good request are no reason to refuse it.
    const r = w.request(Cmd.READ, 5 * MiB, data.length, { flags: 0xfffe });
    expect(await w.reply()).toEqual({ error: 0, cookie: r });
    expect((await w.read(data.length)).equals(data)).toBe(true);
    w.destroy();
    await recovered();
  });

  it('a zero-length WRITE with nothing behind it gets EINVAL (it used to crash the server)', async () => {
    const w = await connect();
    await w.go();
    for (const flags of [0, FUA]) {
      const c = w.request(Cmd.WRITE, S, 0, { flags });
      expect(await w.reply()).toEqual({ error: EINVAL, cookie: c });
      await sleep(20);
    }
    w.destroy();
    await recovered();
  });

  it('4 GiB requests: READ, TRIM and WRITE_ZEROES are refused at once, a 4 GiB WRITE is drained as it arrives and refused', async () => {
    const hwm = status('VmHWM');
    const w = await connect();
    await w.go();
    const huge = 0xffffffff;
    const hugeAligned = 0x100000000 - S;
    for (const [type, len] of [
      [Cmd.READ, huge],
      [Cmd.READ, hugeAligned],
      [Cmd.TRIM, hugeAligned],
      [Cmd.WRITE_ZEROES, hugeAligned],
    ] as const) {
      const c = w.request(type, 0, len);
      expect(await w.reply()).toEqual({ error: EINVAL, cookie: c });
    }
    const c = w.request(Cmd.WRITE, 0, huge);
    const chunk = Buffer.alloc(MiB, 0xab);
    let left = huge;
    while (left > 0) {
      const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
      expect(await w.sendPatiently(part, PATIENCE), 'the server keeps draining the payload').toBe(true);
      left -= part.length;
    }
    expect(await w.reply()).toEqual({ error: EINVAL, cookie: c });
    // Whatever it read was skipped in step: the next request is understood.
    expect((await readAt(w, 0, S)).equals(model.subarray(0, S))).toBe(true);
    expect(status('VmHWM') - hwm, 'peak memory growth in KiB').toBeLessThan(128 * 1024);

    // Half a 4 GiB payload then gone.
    const gone = await connect();
    await gone.go();
    gone.request(Cmd.WRITE, 0, huge);
    for (let i = 0; i < 64; i++) expect(await gone.sendPatiently(chunk, PATIENCE)).toBe(true);
    gone.destroy();
    w.destroy();
    await recovered();
  }, 120_000);

  it('a client that disconnects mid-header or mid-payload leaves data.img and the log untouched', async () => {
    for (const [fua, sent] of [
      [0, 0],
      [FUA, 1],
      [0, 300 * 1024],
      [FUA, MiB - 1],
    ] as const) {
      const w = await connect();
      await w.go();
      const h = Buffer.alloc(28);
      h.writeUInt32BE(REQUEST_MAGIC, 0);
      h.writeUInt16BE(fua, 4);
      h.writeUInt16BE(Cmd.WRITE, 6);
      h.writeBigUInt64BE(1n, 8);
      h.writeBigUInt64BE(BigInt(12 * MiB), 16);
      h.writeUInt32BE(MiB, 24);
      w.send(sent ? Buffer.concat([h, Buffer.alloc(sent, 0x5a)]) : h.subarray(0, 17));
      await sleep(20);
      w.destroy();
    }
    await recovered();
    expect((await readAt(good, 12 * MiB, MiB)).equals(model.subarray(12 * MiB, 13 * MiB))).toBe(true);
  });

  it('64 clients at once: each negotiates, writes its own region, reads it back and flushes', async () => {
    const slot = 128 * 1024;
    const clients = await Promise.all(Array.from({ length: 64 }, () => connect()));
    for (let i = 0; i < 200 && openFds() < baseFds + 64; i++) await sleep(10);
    expect(openFds(), 'the server holds all 64 at once').toBeGreaterThanOrEqual(baseFds + 64);
    await Promise.all(
      clients.map(async (w, i) => {
        await w.go();
        const offset = 4 * MiB + i * slot;
        const data = Buffer.alloc(slot, i + 1);
        data.writeUInt32BE(i, 0);
        const wr = w.request(Cmd.WRITE, offset, slot, { payload: data, flags: i % 2 ? FUA : 0 });
        expect(await w.reply()).toEqual({ error: 0, cookie: wr });
        data.copy(model, offset);
        expect((await readAt(w, offset, slot)).equals(data)).toBe(true);
        const fl = w.request(Cmd.FLUSH, 0, 0);
        expect(await w.reply()).toEqual({ error: 0, cookie: fl });
        w.request(Cmd.DISC, 0, 0);
        expect(await w.hungUp()).toBe(true);
      }),
    );
    await recovered();
  });

  it('a client that never reads its replies is held back by backpressure, not buffered; others are served meanwhile', async () => {
    const w = await connect();
    await w.go();
    const flood = await floodUnread(w);
    expect(flood.grewKiB, `server memory growth after ${flood.sent} unread 1 MiB reads`).toBeLessThan(256 * 1024);
    expect(flood.blocked, 'the server stopped taking requests from the client that does not read').toBe(true);
    await stillServing();
    w.destroy();
    await recovered();
  }, 120_000);

  it('garbage after the handshake ends that session only; random request headers all get EINVAL', async () => {
    for (let round = 0; round < 16; round++) {
      const w = await connect();
      await w.go();
      const junk = Buffer.from(random.bytes(1 + random.int(64 * 1024)));
      junk.writeUInt32BE(junk.readUInt32BE(0) === REQUEST_MAGIC ? 0 : junk.readUInt32BE(0), 0);
      w.send(junk);
      expect(await w.hungUp()).toBe(true);
    }
    const w = await connect();
    await w.go();
    const types = [Cmd.READ, Cmd.TRIM, Cmd.WRITE_ZEROES, Cmd.CACHE, Cmd.BLOCK_STATUS, 8, 100, 0xffff];
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const offset = (BigInt(random.int(2 ** 32)) << 32n) | BigInt(random.int(2 ** 32));
      w.request(random.pick(types), offset, random.int(2 ** 32), { flags: random.int(0x10000) });
    }
    for (let i = 0; i < n; i++) expect((await w.reply()).error).toBe(EINVAL);
    w.destroy();
    await recovered();
  });

  it('NBD_CMD_DISC with requests in flight: they are answered, then the server hangs up', async () => {
    const w = await connect();
    await w.go();
    const cookies = new Set<bigint>();
    for (let i = 0; i < 8; i++) {
      const data = Buffer.from(random.bytes(S));
      cookies.add(w.request(Cmd.WRITE, 13 * MiB + i * S, S, { payload: data, flags: i % 3 ? 0 : FUA }));
      data.copy(model, 13 * MiB + i * S);
    }
    cookies.add(w.request(Cmd.FLUSH, 0, 0));
    w.request(Cmd.DISC, 0, 0);
    for (let i = 0; i < cookies.size; i++) {
      const r = await w.reply();
      expect(cookies.has(r.cookie) && r.error === 0).toBe(true);
    }
    expect(await w.hungUp()).toBe(true);
    await recovered();
  });

  it('after all that: the server stops cleanly, `logwrites info` accepts the log, and it replays to data.img, which holds exactly what was acknowledged', async () => {
    const peakKiB = status('VmHWM');
    good.request(Cmd.DISC, 0, 0);
    expect(await good.hungUp()).toBe(true);
    // A client still flooding unread requests must not keep the server from stopping.
    const stuck = await connect();
    await stuck.go();
    expect((await floodUnread(stuck)).blocked).toBe(true);
    const t0 = Date.now();
    expect(await server.stop()).toBe(0);
    expect(Date.now() - t0, 'milliseconds to stop with a client that does not read').toBeLessThan(PATIENCE);
    stuck.destroy();
    const log = path.join(dir, 'log.img');
    const info = runBin('logwrites', ['info', log, '--json'], dir);
    expect(info.status, info.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'data.img')).equals(model)).toBe(true);
    const copy = zeroImage(dir, 'copy.img', SIZE);
    const replayed = runBin('logwrites', ['replay', log, copy], dir);
    expect(replayed.status, replayed.stderr).toBe(0);
    expect(fs.readFileSync(copy).equals(model)).toBe(true);
    console.log(
      `hostile NBD clients: ${opened} connections, ${requests} requests sent; server peak RSS ${Math.round(peakKiB / 1024)} MiB ` +
        `(${Math.round(baseRssKiB / 1024)} MiB at start); log: ${JSON.parse(info.stdout).entries} entries`,
    );
  });
});
