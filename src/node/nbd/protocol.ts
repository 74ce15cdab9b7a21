// The server side of the NBD protocol (NetworkBlockDevice doc/proto.md): fixed newstyle
// negotiation, then simple replies to pipelined requests, sent in completion order.
// What the export does with the requests is the backend's business.

import type { Duplex } from 'node:stream';
import { NbdError } from '../../errors.ts';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;

const Opt = { EXPORT_NAME: 1, ABORT: 2, LIST: 3, INFO: 6, GO: 7 } as const;
const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: 0x80000001,
  ERR_INVALID: 0x80000003,
  ERR_UNKNOWN: 0x80000006,
} as const;
const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags: what this server accepts. */
export const TransmissionFlag = {
  HAS_FLAGS: 1,
  SEND_FLUSH: 4,
  SEND_FUA: 8,
  SEND_TRIM: 32,
  SEND_WRITE_ZEROES: 64,
} as const;
const TRANSMISSION_FLAGS = Object.values(TransmissionFlag).reduce((a, b) => a | b, 0);

const Cmd = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 } as const;
const CMD_FLAG_FUA = 1;

export const Errno = { EPERM: 1, EIO: 5, ENOMEM: 12, EINVAL: 22, ENOSPC: 28, ESHUTDOWN: 108 } as const;


export interface NbdExport {
  readonly name: string;
  readonly description?: string;
  readonly size: number;
  /** Requests must be aligned to this (the log's sectorsize). */
  readonly blockSize: number;
  /** Largest READ or WRITE payload accepted. */
  readonly maxPayload: number;
}

/** What the export does. Offsets and lengths arrive checked against size and alignment. */
export interface NbdBackend {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  trim(offset: number, length: number, fua: boolean): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
}

/**
 * Bytes from a stream on demand. Reads ahead at most `highWater` bytes, or what a pending
 * read asks for if that is more, then pauses the stream: a client whose requests wait (see
 * serveConnection) is held back by its socket instead of being buffered here.
 */
class Receiver {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private wanted = 0;
  private waiter: (() => void) | undefined;
  private ended = false;
  private halted = false;

  constructor(
    private readonly stream: Duplex,
    private readonly highWater = 1 << 20,
  ) {
    stream.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.buffered += c.length;
      if (this.buffered >= Math.max(this.highWater, this.wanted)) stream.pause();
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Stop handing out bytes: pending and later reads resolve to undefined. */
  stop(): void {
    this.halted = true;
    this.ended = true;
    this.stream.pause();
    this.wake();
  }

  /** Exactly `n` bytes, or undefined when the stream ended first. */
  async read(n: number): Promise<Buffer | undefined> {
    this.wanted = n;
    try {
      while (this.buffered < n && !this.halted) {
        if (this.ended) return undefined;
        if (this.stream.isPaused()) this.stream.resume();
        await new Promise<void>((r) => (this.waiter = r));
      }
    } finally {
      this.wanted = 0;
    }
    return this.halted ? undefined : this.take(n);
  }

  /** Drop `n` bytes as they arrive (a payload we refuse), never holding more than a chunk. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const got = await this.read(Math.min(n, Math.max(1, Math.min(this.buffered, 1 << 20))));
      if (!got) return false;
      n -= got.length;
    }
    return true;
  }

  private take(n: number): Buffer {
    // A zero-length request may arrive with nothing behind it.
    if (n === 0) return Buffer.alloc(0);
    let out: Buffer;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    if (this.buffered < this.highWater && this.stream.isPaused() && !this.halted) this.stream.resume();
    return out;
  }
}

function optionReply(opt: number, type: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.allocUnsafe(20 + data.length);
  b.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
  b.writeUInt32BE(opt, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(data.length, 16);
  b.set(data, 20);
  return b;
}

function infoExport(exp: NbdExport): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(Info.EXPORT, 0);
  b.writeBigUInt64BE(BigInt(exp.size), 2);
  b.writeUInt16BE(TRANSMISSION_FLAGS, 10);
  return b;
}

function infoText(type: number, text: string): Buffer {
  return Buffer.concat([Buffer.from([0, type]), Buffer.from(text, 'utf8')]);
}

function infoBlockSize(exp: NbdExport): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(Info.BLOCK_SIZE, 0);
  b.writeUInt32BE(exp.blockSize, 2);
  b.writeUInt32BE(Math.max(exp.blockSize, 4096), 6);
  b.writeUInt32BE(exp.maxPayload, 10);
  return b;
}

/** The name and info requests of NBD_OPT_INFO / NBD_OPT_GO, or undefined when malformed. */
function parseInfoRequest(data: Buffer): { name: string; infos: number[] } | undefined {
  if (data.length < 6) return undefined;
  const nameLen = data.readUInt32BE(0);
  if (4 + nameLen + 2 > data.length) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLen);
  const count = data.readUInt16BE(4 + nameLen);
  if (data.length !== 4 + nameLen + 2 + 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(4 + nameLen + 2 + 2 * i));
  return { name, infos };
}

const MAX_OPTION_BYTES = 64 * 1024;

/**
 * Negotiate an export. Resolves true when the client entered transmission, false when it
 * aborted, disconnected or broke the protocol (the caller then just closes the socket).
 */
async function negotiate(sock: Duplex, rx: Receiver, exp: NbdExport): Promise<boolean> {
  const hello = Buffer.alloc(18);
  hello.writeBigUInt64BE(NBDMAGIC, 0);
  hello.writeBigUInt64BE(IHAVEOPT, 8);
  hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  sock.write(hello);
  const cflags = await rx.read(4);
  if (!cflags) return false;
  const clientFlags = cflags.readUInt32BE(0);
  if (clientFlags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) return false;
  const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
  const known = (name: string) => name === exp.name || name === '';

  for (let options = 0; options < 1000; options++) {
    const head = await rx.read(16);
    if (!head || head.readBigUInt64BE(0) !== IHAVEOPT) return false;
    const opt = head.readUInt32BE(8);
    const len = head.readUInt32BE(12);
    if (len > MAX_OPTION_BYTES) return false;
    const data = len ? await rx.read(len) : Buffer.alloc(0);
    if (!data) return false;
    switch (opt) {
      case Opt.EXPORT_NAME: {
        if (!known(data.toString('utf8'))) return false;
        const b = Buffer.alloc(noZeroes ? 10 : 134);
        b.writeBigUInt64BE(BigInt(exp.size), 0);
        b.writeUInt16BE(TRANSMISSION_FLAGS, 8);
        sock.write(b);
        return true;
      }
      case Opt.ABORT:
        sock.write(optionReply(opt, Rep.ACK));
        return false;
      case Opt.LIST: {
        if (len) {
          sock.write(optionReply(opt, Rep.ERR_INVALID));
          break;
        }
        const name = Buffer.from(exp.name, 'utf8');
        const entry = Buffer.alloc(4 + name.length);
        entry.writeUInt32BE(name.length, 0);
        name.copy(entry, 4);
        sock.write(optionReply(opt, Rep.SERVER, entry));
        sock.write(optionReply(opt, Rep.ACK));
        break;
      }
      case Opt.INFO:
      case Opt.GO: {
        const req = parseInfoRequest(data);
        if (!req) {
          sock.write(optionReply(opt, Rep.ERR_INVALID));
          break;
        }
        if (!known(req.name)) {
          sock.write(optionReply(opt, Rep.ERR_UNKNOWN));
          break;
        }
        sock.write(optionReply(opt, Rep.INFO, infoExport(exp)));
        if (req.infos.includes(Info.NAME)) sock.write(optionReply(opt, Rep.INFO, infoText(Info.NAME, exp.name)));
        if (req.infos.includes(Info.DESCRIPTION) && exp.description) {
          sock.write(optionReply(opt, Rep.INFO, infoText(Info.DESCRIPTION, exp.description)));
        }
        // Sent even when not asked for, as the protocol allows: alignment is enforced.
        sock.write(optionReply(opt, Rep.INFO, infoBlockSize(exp)));
        sock.write(optionReply(opt, Rep.ACK));
        if (opt === Opt.GO) return true;
        break;
      }
      default:
        sock.write(optionReply(opt, Rep.ERR_UNSUP));
    }
  }
  return false;
}

function simpleReply(cookie: Buffer, errno: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(errno, 4);
  cookie.copy(b, 8);
  return b;
}

function errnoOf(e: unknown): number {
  return e instanceof NbdError ? e.errno : Errno.EIO;
}

interface Request {
  readonly type: number;
  readonly fua: boolean;
  readonly offset: number;
  readonly length: number;
}

const RANGED: readonly number[] = [Cmd.READ, Cmd.WRITE, Cmd.TRIM, Cmd.WRITE_ZEROES];

/** Why a request cannot be served as sent, or undefined when it can. */
function invalid(r: Request, exp: NbdExport): string | undefined {
  if (r.type === Cmd.FLUSH) return undefined;
  if (!RANGED.includes(r.type)) return `unsupported command ${r.type}`;
  if ((r.type === Cmd.READ || r.type === Cmd.WRITE) && r.length > exp.maxPayload) {
    return `payload of ${r.length} bytes exceeds ${exp.maxPayload}`;
  }
  if (r.length === 0) return 'zero length';
  if (r.offset % exp.blockSize || r.length % exp.blockSize) return `not aligned to ${exp.blockSize} bytes`;
  if (r.offset + r.length > exp.size) return `beyond the end (${exp.size} bytes)`;
  return undefined;
}

function perform(r: Request, payload: Buffer | undefined, backend: NbdBackend): Promise<Uint8Array | void> {
  switch (r.type) {
    case Cmd.READ:
      return backend.read(r.offset, r.length);
    case Cmd.WRITE:
      return backend.write(r.offset, payload!, r.fua);
    case Cmd.FLUSH:
      return backend.flush();
    case Cmd.TRIM:
      return backend.trim(r.offset, r.length, r.fua);
    default:
      return backend.writeZeroes(r.offset, r.length, r.fua);
  }
}

/** One client connection; `stop` ends it gracefully (in-flight requests are answered first). */
export interface NbdConnection {
  readonly done: Promise<void>;
  stop(): void;
}

export interface ConnectionOptions {
  /** Requests served at once before reading more. */
  maxInFlight?: number;
  /**
   * Bytes a client may have outstanding (payloads of requests being served plus replies not
   * yet taken by the socket) before its next request is read. A client that does not read its
   * replies thus stops being read, and its socket pushes back on it.
   */
  maxQueuedBytes?: number;
  /** After the session ends, how long unsent replies may take to leave before the socket is dropped. */
  lingerMs?: number;
}

/** Resolves at the socket's next 'drain' or 'close'. */
function drained(sock: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

/** Serve one client on `sock` until it disconnects, breaks the protocol, or `stop` is called. */
export function serveConnection(sock: Duplex, exp: NbdExport, backend: NbdBackend, opts: ConnectionOptions = {}): NbdConnection {
  const rx = new Receiver(sock);
  const maxInFlight = opts.maxInFlight ?? 64;
  const maxQueued = opts.maxQueuedBytes ?? 64 << 20;
  const inFlight = new Set<Promise<void>>();
  let busyBytes = 0;
  let stopped = false;
  let wakeStop = () => {};
  const stopping = new Promise<void>((r) => (wakeStop = r));

  /** Wait until this client may send another request. */
  const room = async () => {
    while (!stopped && !sock.destroyed) {
      if (inFlight.size >= maxInFlight || busyBytes > maxQueued) await Promise.race(inFlight);
      else if (sock.writableLength > maxQueued) await Promise.race([drained(sock), stopping]);
      else return;
    }
  };

  const transmit = async () => {
    for (;;) {
      await room();
      // Requests still buffered from a client that has gone would be served to nobody.
      if (sock.destroyed) return;
      const head = await rx.read(28);
      if (!head || head.readUInt32BE(0) !== REQUEST_MAGIC) return;
      const r: Request = {
        fua: (head.readUInt16BE(4) & CMD_FLAG_FUA) !== 0,
        type: head.readUInt16BE(6),
        offset: Number(head.readBigUInt64BE(16)),
        length: head.readUInt32BE(24),
      };
      const cookie = Buffer.from(head.subarray(8, 16));
      if (r.type === Cmd.DISC) return;
      const why = invalid(r, exp);
      let payload: Buffer | undefined;
      if (r.type === Cmd.WRITE) {
        if (why && r.length > exp.maxPayload) {
          if (!(await rx.skip(r.length))) return;
        } else {
          payload = await rx.read(r.length);
          if (!payload) return;
        }
      }
      if (why) {
        sock.write(simpleReply(cookie, Errno.EINVAL));
        continue;
      }
      const bytes = r.type === Cmd.READ || r.type === Cmd.WRITE ? r.length : 0;
      busyBytes += bytes;
      const job = perform(r, payload, backend).then(
        (data) => {
          if (data) {
            sock.cork();
            sock.write(simpleReply(cookie, 0));
            sock.write(data);
            sock.uncork();
          } else sock.write(simpleReply(cookie, 0));
        },
        (e: unknown) => void sock.write(simpleReply(cookie, errnoOf(e))),
      );
      const tracked = job.finally(() => {
        busyBytes -= bytes;
        inFlight.delete(tracked);
      });
      inFlight.add(tracked);
    }
  };

  const run = async () => {
    try {
      if (await negotiate(sock, rx, exp)) await transmit();
    } finally {
      await Promise.allSettled(inFlight);
      await new Promise<void>((resolve) => {
        if (sock.destroyed || sock.writableEnded) return resolve();
        // A client that does not read would keep its replies, and this socket, forever.
        const linger = setTimeout(() => sock.destroy(), opts.lingerMs ?? 5000);
        sock.once('close', () => {
          clearTimeout(linger);
          resolve();
        });
        sock.end(resolve);
      });
      sock.destroy();
    }
  };
  return {
    done: run(),
    stop: () => {
      stopped = true;
      wakeStop();
      rx.stop();
    },
  };
}
