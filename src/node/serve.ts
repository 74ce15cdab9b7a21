// `logwrites serve`: the log-writes target as an NBD server. Requests pass through to a data
// file or device; LogWriter decides what goes into the log and when; a Unix control socket
// takes `mark` and `status` like `dmsetup message` and `dmsetup status`.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { LogReader } from '../reader.ts';
import { LogFullError, LogWriter, type Io, type LogDevice, type OnLogFull, type Pending } from '../writer.ts';
import { describe, openSource } from './file.ts';
import { Errno, NbdError, serveConnection, type NbdBackend, type NbdConnection, type NbdExport } from './nbd.ts';

export interface ServeOptions {
  dev: string;
  log: string;
  /** Listen on a Unix socket here, or on `listen` (`host:port`); one of the two. */
  socket?: string;
  listen?: string;
  exportName?: string;
  /** Sectorsize of a fresh log (an appended log keeps its own). */
  sectorSize?: number;
  /** Create `dev` with this many bytes when it does not exist. */
  size?: number;
  /** Continue an existing log after its last entry instead of starting afresh. */
  append?: boolean;
  /** Bytes the log may use (a block device's size is the default limit). */
  logSize?: number;
  onLogFull?: OnLogFull;
  /** Control socket path; default beside the log. */
  control?: string;
}

/** A bad invocation: one line for the user, no stack. */
export class ServeError extends Error {
  override name = 'ServeError';
}

const MAX_PAYLOAD = 32 << 20;
/** Dirty bytes after which data and staged log are synced in the background (see writeback). */
const WRITEBACK_BYTES = 64 << 20;
const ZERO_CHUNK = 1 << 20;
const IOV_BATCH = 512;
const zeroChunk = new Uint8Array(ZERO_CHUNK);

async function writeFull(fh: fs.promises.FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

async function writevFull(fh: fs.promises.FileHandle, parts: readonly Uint8Array[], position: number): Promise<void> {
  for (let i = 0; i < parts.length; i += IOV_BATCH) {
    const batch = parts.slice(i, i + IOV_BATCH);
    let total = 0;
    for (const p of batch) total += p.length;
    const { bytesWritten } = await fh.writev(batch, position);
    if (bytesWritten < total) await writeFull(fh, Buffer.concat(batch).subarray(bytesWritten), position + bytesWritten);
    position += total;
  }
}

async function readFull(fh: fs.promises.FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  for (let got = 0; got < length; ) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new NbdError(Errno.EIO, `short read at byte ${position + got}`);
    got += bytesRead;
  }
  return buf;
}

/** `length` bytes of zeros as shared slices of one chunk. */
function zeroParts(length: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < length; at += ZERO_CHUNK) parts.push(zeroChunk.subarray(0, Math.min(ZERO_CHUNK, length - at)));
  return parts;
}

function fileLog(fh: fs.promises.FileHandle): LogDevice {
  return { write: (offset, parts) => writevFull(fh, parts, offset), sync: () => fh.datasync() };
}

/** The data device behind the export: IO passes through, LogWriter hears of every write. */
class LoggedDisk implements NbdBackend {
  private readonly S: number;
  private dirty = 0;
  private writingBack = false;

  constructor(
    private readonly data: fs.promises.FileHandle,
    readonly writer: LogWriter,
  ) {
    this.S = writer.sectorSize;
  }

  private issue(io: Io): Pending {
    try {
      return this.writer.issue(io);
    } catch (e) {
      if (e instanceof LogFullError) throw new NbdError(Errno.ENOSPC, e.message);
      throw e;
    }
  }

  /** Pass a request through with `pass`, then tell the writer how it went. */
  private async through(io: Io, pass: () => Promise<void>, fua: boolean): Promise<void> {
    const p = this.issue(io);
    try {
      await pass();
      if (io.kind === 'write') this.writeback(io.data.reduce((n, d) => n + d.length, 0));
      // A flush will log the staged writes: sync them alongside the data.
      if (fua) await Promise.all([this.data.datasync(), io.kind === 'flush' && this.writer.syncStaged()]);
    } catch (e) {
      this.writer.cancel(p);
      throw e;
    }
    await this.writer.complete(p);
  }

  /**
   * Start syncing data and staged log early once much is dirty, so that a flush after a long
   * stream of writes finds the disk mostly caught up instead of writing everything at once.
   * Durability promises are unchanged: only flushes and FUA writes promise anything.
   */
  private writeback(bytes: number): void {
    this.dirty += bytes;
    if (this.dirty < WRITEBACK_BYTES || this.writingBack) return;
    this.dirty = 0;
    this.writingBack = true;
    void Promise.all([this.data.datasync(), this.writer.syncStaged()])
      .catch(() => undefined)
      .finally(() => (this.writingBack = false));
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return readFull(this.data, length, offset);
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    return this.through({ kind: 'write', sector: offset / this.S, data: [data], fua }, () => writeFull(this.data, data, offset), fua);
  }

  flush(): Promise<void> {
    return this.through({ kind: 'flush' }, async () => {}, true);
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    // The data device reads zeros after a discard, so a replay (discards as zeros) matches it.
    const io: Io = { kind: 'discard', sector: offset / this.S, nrSectors: length / this.S, fua };
    return this.through(io, () => this.zero(offset, length), fua);
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    // Logged as a write of zeros, as QEMU's blklogwrites does.
    const io: Io = { kind: 'write', sector: offset / this.S, data: zeroParts(length), fua };
    return this.through(io, () => this.zero(offset, length), fua);
  }

  private async zero(offset: number, length: number): Promise<void> {
    for (let at = 0; at < length; at += ZERO_CHUNK) await writeFull(this.data, zeroChunk.subarray(0, Math.min(ZERO_CHUNK, length - at)), offset + at);
  }
}

/** Open (or create at `size`) the data device; its size must be whole sectors. */
async function openData(dev: string, size: number | undefined, S: number): Promise<{ fh: fs.promises.FileHandle; size: number }> {
  if (!fs.existsSync(dev)) {
    if (size === undefined) throw new ServeError(`${dev} does not exist (give --size to create it)`);
    const fh = await fs.promises.open(dev, 'w+');
    await fh.truncate(size);
    return checkSize(dev, fh, size, S);
  }
  const fh = await fs.promises.open(dev, 'r+');
  const actual = describe(fh.fd).size;
  if (size !== undefined && size !== actual) {
    await fh.close();
    throw new ServeError(`${dev} is ${actual} bytes but --size says ${size}`);
  }
  return checkSize(dev, fh, actual, S);
}

async function checkSize(dev: string, fh: fs.promises.FileHandle, size: number, S: number) {
  if (size === 0 || size % S) {
    await fh.close();
    throw new ServeError(`${dev} is ${size} bytes, not a positive multiple of the ${S}-byte sectorsize`);
  }
  return { fh, size };
}

/** Where an existing log ends: entries that are valid, counted by the super or not. */
async function logEnd(logPath: string): Promise<{ sectorSize: number; entries: number; end: number }> {
  const src = openSource(logPath);
  try {
    const reader = await LogReader.open(src);
    let entries = 0;
    let end = reader.sectorSize;
    for await (const e of reader.entries({ pastEnd: true })) {
      entries = e.index + 1;
      end = e.payloadOffset + e.payloadLength;
    }
    return { sectorSize: reader.sectorSize, entries, end };
  } finally {
    src.close();
  }
}

export interface RunningServer {
  /** Where clients connect: an NBD URI. */
  readonly uri: string;
  readonly controlPath: string;
  readonly export: NbdExport;
  status(): string;
  mark(text: string): Promise<void>;
  /** Stop accepting, answer in-flight requests, close the log with its end mark. */
  stop(): Promise<void>;
}

function listenOn(server: net.Server, where: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (typeof where === 'string') server.listen(where, done);
    else server.listen(where.port, where.host, done);
  });
}

/** A stale socket file from a server that died would make listen fail: remove it. */
function clearSocket(p: string): void {
  try {
    if (fs.statSync(p).isSocket()) fs.unlinkSync(p);
  } catch {
    // Nothing there.
  }
}

function parseListen(spec: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(spec);
  if (!m) throw new ServeError(`--listen wants HOST:PORT, got '${spec}'`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(m[2]) };
}

/** Open the devices and start serving. */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  if (!!opts.socket === !!opts.listen) throw new ServeError('give exactly one of --socket PATH and --listen HOST:PORT');
  const resume = opts.append && fs.existsSync(opts.log) ? await logEnd(opts.log) : undefined;
  const S = resume?.sectorSize ?? opts.sectorSize ?? 512;
  if (resume && opts.sectorSize && opts.sectorSize !== S) {
    throw new ServeError(`${opts.log} has sectorsize ${S}, --sectorsize says ${opts.sectorSize}`);
  }
  const data = await openData(opts.dev, opts.size, S);
  const logFh = await fs.promises.open(opts.log, resume ? 'r+' : fs.existsSync(opts.log) ? 'r+' : 'w+');
  const logInfo = describe(logFh.fd);
  if (!resume && !logInfo.isBlockDevice) await logFh.truncate(0);
  const capacity = opts.logSize ?? (logInfo.isBlockDevice ? logInfo.size : undefined);
  const writer = await LogWriter.create(fileLog(logFh), {
    sectorSize: S,
    capacity,
    onFull: opts.onLogFull ?? 'disable',
    resume: resume && { entries: resume.entries, end: resume.end },
  });
  const disk = new LoggedDisk(data.fh, writer);
  const exp: NbdExport = {
    name: opts.exportName ?? '',
    description: `logwrites: ${path.basename(opts.dev)}, log ${path.basename(opts.log)}`,
    size: data.size,
    blockSize: S,
    maxPayload: MAX_PAYLOAD,
  };

  const connections = new Set<NbdConnection>();
  const nbd = net.createServer((sock) => {
    sock.setNoDelay(true);
    const c = serveConnection(sock, exp, disk);
    connections.add(c);
    // One client's failure ends that client, never the server (which would lose the end mark).
    void c.done
      .catch((e: unknown) => process.stderr.write(`logwrites serve: a client connection failed: ${e instanceof Error ? e.message : String(e)}\n`))
      .finally(() => connections.delete(c));
  });
  const controlPath = opts.control ?? `${opts.log}.control`;
  const control = net.createServer((sock) => answerControl(sock, writer));

  let uri: string;
  if (opts.socket) {
    clearSocket(opts.socket);
    await listenOn(nbd, opts.socket);
    uri = `nbd+unix:///${encodeURIComponent(exp.name)}?socket=${opts.socket}`;
  } else {
    const where = parseListen(opts.listen!);
    await listenOn(nbd, where);
    const port = (nbd.address() as net.AddressInfo).port;
    uri = `nbd://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}/${encodeURIComponent(exp.name)}`;
  }
  clearSocket(controlPath);
  await listenOn(control, controlPath);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      nbd.close();
      control.close();
      for (const c of connections) c.stop();
      await Promise.allSettled([...connections].map((c) => c.done));
      await writer.close();
      await Promise.all([data.fh.close(), logFh.close()]);
      for (const p of [opts.socket, controlPath]) if (p) clearSocket(p);
    })());

  return { uri, controlPath, export: exp, status: () => writer.status(), mark: (t) => writer.mark(t), stop };
}

/** One control request per line: `mark <text>` or `status`; the answer is one line too. */
function answerControl(sock: net.Socket, writer: LogWriter): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > 64 * 1024) return void sock.end('error request too long\n');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      void controlCommand(line, writer).then((answer) => sock.write(`${answer}\n`));
    }
  });
}

async function controlCommand(line: string, writer: LogWriter): Promise<string> {
  const [verb, ...rest] = line.split(' ');
  try {
    if (verb === 'status') return `ok ${writer.status()}`;
    if (verb === 'mark' && rest.length) {
      await writer.mark(rest.join(' '));
      return 'ok';
    }
    return `error unknown request '${line}' (want 'mark <text>' or 'status')`;
  } catch (e) {
    return `error ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Send one request to a running server's control socket; resolves to its answer, or throws. */
export function controlRequest(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${request.replace(/\n/g, ' ')}\n`));
    sock.on('data', (c: string) => {
      answer += c;
      const nl = answer.indexOf('\n');
      if (nl < 0) return;
      sock.end();
      const line = answer.slice(0, nl);
      if (line.startsWith('ok')) resolve(line.slice(3));
      else reject(new ServeError(line.replace(/^error /, '')));
    });
    sock.on('error', (e) => reject(new ServeError(`cannot reach the server at ${socketPath}: ${e.message}`)));
    sock.on('close', () => reject(new ServeError(`server at ${socketPath} closed without answering`)));
  });
}
