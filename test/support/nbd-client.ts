// A bare NBD client for tests that need what real clients will not send: misaligned or
// out-of-range requests, odd options, and exact knowledge of which replies arrived.
import * as net from 'node:net';
import {
  Cmd,
  HandshakeFlag,
  IHAVEOPT,
  Info,
  NBDMAGIC,
  Opt,
  OPTION_REPLY_BYTES,
  Rep,
  REQUEST_BYTES,
  REQUEST_MAGIC,
  SIMPLE_REPLY_BYTES,
} from '../../src/node/nbd/protocol.ts';

export interface Reply {
  error: number;
  data?: Buffer;
}

export class RawNbd {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closed = false;
  private cookie = 1n;
  private readonly waiting = new Map<bigint, { length: number; resolve: (r: Reply) => void }>();
  size = 0;
  flags = 0;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (c) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on('error', () => {});
  }

  static async connect(socketPath: string): Promise<RawNbd> {
    const sock = net.createConnection(socketPath);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const c = new RawNbd(sock);
    const hello = await c.read(18);
    if (hello.readBigUInt64BE(0) !== NBDMAGIC) throw new Error('bad server magic');
    const flags = Buffer.alloc(4);
    flags.writeUInt32BE(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES);
    sock.write(flags);
    return c;
  }

  /** Bytes from the server, or throws when it closed first. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.closed) throw new Error('server closed the connection');
      await new Promise<void>((r) => (this.wake = r));
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** True once the server has closed the connection. */
  async closedByServer(): Promise<boolean> {
    while (!this.closed) await new Promise<void>((r) => (this.wake = r));
    return true;
  }

  /** Send an option; returns the replies up to and including the first that is not NBD_REP_SERVER/INFO. */
  async option(opt: number, data: Buffer = Buffer.alloc(0)): Promise<{ type: number; data: Buffer }[]> {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(IHAVEOPT, 0);
    h.writeUInt32BE(opt, 8);
    h.writeUInt32BE(data.length, 12);
    this.sock.write(Buffer.concat([h, data]));
    const replies = [];
    for (;;) {
      const r = await this.read(OPTION_REPLY_BYTES);
      const type = r.readUInt32BE(12);
      replies.push({ type, data: Buffer.from(await this.read(r.readUInt32BE(16))) });
      if (type !== Rep.SERVER && type !== Rep.INFO) return replies;
    }
  }

  /** NBD_OPT_GO on `name`; the export's size and flags are kept. */
  async go(name = ''): Promise<void> {
    const n = Buffer.from(name);
    const data = Buffer.alloc(4 + n.length + 2);
    data.writeUInt32BE(n.length, 0);
    n.copy(data, 4);
    const replies = await this.option(Opt.GO, data);
    const last = replies[replies.length - 1]!;
    if (last.type !== Rep.ACK) throw new Error(`NBD_OPT_GO failed: reply 0x${last.type.toString(16)}`);
    const info = replies.find((r) => r.type === Rep.INFO && r.data.readUInt16BE(0) === Info.EXPORT)!;
    this.size = Number(info.data.readBigUInt64BE(2));
    this.flags = info.data.readUInt16BE(10);
    this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const r = await this.read(SIMPLE_REPLY_BYTES);
        const cookie = r.readBigUInt64BE(8);
        const w = this.waiting.get(cookie)!;
        this.waiting.delete(cookie);
        const error = r.readUInt32BE(4);
        const data = w.length && !error ? Buffer.from(await this.read(w.length)) : undefined;
        w.resolve({ error, data });
      }
    } catch {
      // Closed: requests never answered get error -1, so a crash test can tell them apart.
      for (const w of this.waiting.values()) w.resolve({ error: -1 });
      this.waiting.clear();
    }
  }

  /** Send one request (pipelined: do not wait for earlier ones); resolves with its reply. */
  request(type: number, offset: number, length: number, opts: { flags?: number; data?: Buffer } = {}): Promise<Reply> {
    const h = Buffer.alloc(REQUEST_BYTES);
    const cookie = this.cookie++;
    h.writeUInt32BE(REQUEST_MAGIC, 0);
    h.writeUInt16BE(opts.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    const reply = new Promise<Reply>((resolve) =>
      this.waiting.set(cookie, { length: type === Cmd.READ ? length : 0, resolve }),
    );
    this.sock.write(opts.data ? Buffer.concat([h, opts.data]) : h);
    return reply;
  }

  disconnect(): void {
    if (!this.closed) this.request(Cmd.DISC, 0, 0);
    this.sock.end();
  }
}
