// Transmission: pipelined requests, checked against the export, served by the backend and
// answered with simple replies in completion order. One connection is the handshake
// (handshake.ts) then this phase; what the export does with the requests is the backend's business.

import type { Duplex } from 'node:stream';
import { isLogwritesError, NbdError, type ErrorCode } from '../../errors.ts';
import { negotiate } from './handshake.ts';
import { Cmd, CmdFlag, Errno, REQUEST_BYTES, REQUEST_MAGIC, simpleReply, type NbdExport } from './protocol.ts';
import { Receiver } from './receiver.ts';

/** What the export does. Offsets and lengths arrive checked against size and alignment. */
export interface NbdBackend {
  read(offset: number, length: number): Promise<Uint8Array>;
  write(offset: number, data: Uint8Array, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  trim(offset: number, length: number, fua: boolean): Promise<void>;
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void>;
}

/** NBD errors for the codes of errors a backend may throw; anything else is EIO. */
const ERRNO_OF: Partial<Record<ErrorCode, number>> = { ELOGFULL: Errno.ENOSPC };

/** The one place a failed request becomes an NBD error number. */
function errnoOf(e: unknown): number {
  if (e instanceof NbdError) return e.errno;
  return (isLogwritesError(e) && ERRNO_OF[e.code]) || Errno.EIO;
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
export function serveConnection(
  sock: Duplex,
  exp: NbdExport,
  backend: NbdBackend,
  opts: ConnectionOptions = {},
): NbdConnection {
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
      const head = await rx.read(REQUEST_BYTES);
      if (!head || head.readUInt32BE(0) !== REQUEST_MAGIC) return;
      const r: Request = {
        fua: (head.readUInt16BE(4) & CmdFlag.FUA) !== 0,
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
