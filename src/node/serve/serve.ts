// `logwrites serve`: the log-writes target as an NBD server. Requests pass through to a data
// file or device; LogWriter decides what goes into the log and when; a Unix control socket
// takes `mark` and `status` like `dmsetup message` and `dmsetup status`.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { LogReader } from '../../reader.ts';
import { LogWriter, type Io, type LogDevice, type OnLogFull, type Pending } from '../../writer.ts';
import { describeFd, describePath, majorMinor, type DeviceInfo } from '../io/device-info.ts';
import { openSource } from '../io/file.ts';
import { readFull, writeFull, writevFull } from '../io/full-io.ts';
import { hold } from '../guard/holds.ts';
import { guardWrite } from '../guard/write-guard.ts';
import { Errno, type NbdExport } from '../nbd/protocol.ts';
import { serveConnection, type NbdBackend, type NbdConnection } from '../nbd/transmission.ts';
import { LogFullError, NbdError, ServeError, WriteRefused } from '../../errors.ts';

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
  /** Start over an existing log, and write where write-guard.ts would refuse. */
  force?: boolean;
}


const MAX_PAYLOAD = 32 << 20;
/** Dirty bytes after which data and staged log are synced in the background (see writeback). */
const WRITEBACK_BYTES = 64 << 20;
const ZERO_CHUNK = 1 << 20;
const zeroChunk = new Uint8Array(ZERO_CHUNK);

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

/**
 * The data device's size, judged before anything is opened: an existing device keeps its own
 * (and --size must agree), a missing one is created at --size; whole sectors either way.
 */
function dataSize(dev: string, info: DeviceInfo | undefined, size: number | undefined, S: number): number {
  if (!info && size === undefined) throw new ServeError(`${dev} does not exist (give --size to create it)`);
  if (info && size !== undefined && size !== info.size) throw new ServeError(`${dev} is ${info.size} bytes but --size says ${size}`);
  const bytes = info?.size ?? size!;
  if (bytes === 0 || bytes % S) throw new ServeError(`${dev} is ${bytes} bytes, not a positive multiple of the ${S}-byte sectorsize`);
  return bytes;
}

/** What an existing log holds that starting over would destroy, or undefined when it holds nothing. */
async function existingContent(logPath: string, info: DeviceInfo | undefined): Promise<string | undefined> {
  if (!info || (!info.isBlockDevice && info.size === 0)) return undefined;
  const src = openSource(logPath);
  try {
    const head = await src.read(0, Math.min(4096, src.size));
    try {
      const reader = await LogReader.open(src);
      return `it holds a log of ${reader.nrEntries} entries`;
    } catch {
      // Not a log: judged by its bytes below.
    }
    if (info.isBlockDevice && head.every((b) => b === 0)) return undefined;
    return info.isBlockDevice ? 'its first sectors are not zeros' : `it is not empty (${info.size} bytes)`;
  } finally {
    src.close();
  }
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

/** Open an existing file for writing as it is, or create a missing one (never truncating either). */
function openKeeping(p: string, exists: boolean): Promise<fs.promises.FileHandle> {
  return fs.promises.open(p, exists ? 'r+' : 'wx+');
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

/**
 * Listen on `where`. Unix sockets: a missing folder is named as such (Node says EACCES), a
 * stale socket file from a server that died is replaced, a live server's socket is not.
 */
async function listenOn(server: net.Server, where: string | { host: string; port: number }): Promise<void> {
  const what = typeof where === 'string' ? where : `${where.host}:${where.port}`;
  if (typeof where === 'string') {
    const dir = path.dirname(path.resolve(where));
    if (!fs.existsSync(dir)) throw new ServeError(`cannot listen on ${where}: ENOENT: the folder ${dir} does not exist`);
    if (await answers(where)) throw new ServeError(`cannot listen on ${where}: EADDRINUSE: another server is listening there`);
    clearSocket(where);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ServeError(`cannot listen on ${what}: ${e.message}`)));
    const done = () => {
      server.removeAllListeners('error');
      resolve();
    };
    if (typeof where === 'string') server.listen(where, done);
    else server.listen(where.port, where.host, done);
  });
}

/** Whether a server answers on the Unix socket `p`. */
function answers(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection(p);
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Remove a socket file (never anything else). */
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

/** Refuse, before anything is opened, what would destroy data: see write-guard.ts, and an existing log without --append or --force. */
async function judge(opts: ServeOptions, dev?: DeviceInfo, log?: DeviceInfo): Promise<void> {
  const force = !!opts.force;
  if (!force && !dev && !log && path.resolve(opts.dev) === path.resolve(opts.log)) throw new WriteRefused('serve', `${opts.dev} would be both the data device and the log`);
  guardWrite('serve', { path: opts.dev, keep: log ? [{ name: 'the log', info: log }] : [] }, force);
  guardWrite('serve', { path: opts.log, keep: dev ? [{ name: 'the data device', info: dev }] : [] }, force);
  if (opts.append || force) return;
  const content = await existingContent(opts.log, log);
  if (content) throw new ServeError(`refusing to start over ${opts.log}: ${content} (--append continues it, --force starts over)`);
}

/** Both files opened (a missing one created, nothing truncated yet) and held against other writers. */
async function openHeld(opts: ServeOptions, devInfo?: DeviceInfo, logInfo?: DeviceInfo) {
  const opened: fs.promises.FileHandle[] = [];
  try {
    const data = await openKeeping(opts.dev, !!devInfo);
    opened.push(data);
    const log = await openKeeping(opts.log, !!logInfo);
    opened.push(log);
    const item = (p: string, fh: fs.promises.FileHandle, role: string) => {
      const info = describeFd(fh.fd);
      return { carrier: { kind: info.isBlockDevice ? ('block' as const) : ('file' as const), key: info.isBlockDevice ? majorMinor(info.rdev) : `${info.dev}:${info.ino}` }, path: p, role };
    };
    const holding = hold([item(opts.dev, data, 'data device'), item(opts.log, log, 'log')], !!opts.force);
    return { data, log, holding };
  } catch (e) {
    await Promise.all(opened.map((fh) => fh.close()));
    // What we created is empty: take it away again.
    if (opened.length && !devInfo) fs.rmSync(opts.dev, { force: true });
    if (opened.length > 1 && !logInfo) fs.rmSync(opts.log, { force: true });
    throw e;
  }
}

/**
 * Judge, listen, then open: nothing is created or written until both sockets listen, so a
 * server that cannot start leaves every file as it was.
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  if (!!opts.socket === !!opts.listen) throw new ServeError('give exactly one of --socket PATH and --listen HOST:PORT');
  const where = opts.socket ?? parseListen(opts.listen!);
  const devInfo = describePath(opts.dev);
  const logInfo = describePath(opts.log);
  await judge(opts, devInfo, logInfo);
  const resume = opts.append && logInfo ? await logEnd(opts.log) : undefined;
  const S = resume?.sectorSize ?? opts.sectorSize ?? 512;
  if (resume && opts.sectorSize && opts.sectorSize !== S) {
    throw new ServeError(`${opts.log} has sectorsize ${S}, --sectorsize says ${opts.sectorSize}`);
  }
  const size = dataSize(opts.dev, devInfo, opts.size, S);
  const exp: NbdExport = {
    name: opts.exportName ?? '',
    description: `logwrites: ${path.basename(opts.dev)}, log ${path.basename(opts.log)}`,
    size,
    blockSize: S,
    maxPayload: MAX_PAYLOAD,
  };

  // Clients that connect while the files are being opened wait for them.
  let disk: LoggedDisk | undefined;
  const early: net.Socket[] = [];
  const connections = new Set<NbdConnection>();
  const accept = (sock: net.Socket, d: LoggedDisk) => {
    sock.setNoDelay(true);
    const c = serveConnection(sock, exp, d);
    connections.add(c);
    // One client's failure ends that client, never the server (which would lose the end mark).
    void c.done
      .catch((e: unknown) => process.stderr.write(`logwrites serve: a client connection failed: ${e instanceof Error ? e.message : String(e)}\n`))
      .finally(() => connections.delete(c));
  };
  const nbd = net.createServer((sock) => (disk ? accept(sock, disk) : early.push(sock)));
  const controlPath = opts.control ?? `${opts.log}.control`;
  let writer: LogWriter | undefined;
  const control = net.createServer((sock) => (writer ? answerControl(sock, writer) : sock.end('error the server is starting\n')));
  /** Give up starting: no socket left behind, no early client kept waiting. */
  const abandon = () => {
    // Only sockets we listen on are ours to remove (another server's must stay).
    if (nbd.listening && opts.socket) clearSocket(opts.socket);
    if (control.listening) clearSocket(controlPath);
    nbd.close();
    control.close();
    for (const sock of early) sock.destroy();
  };

  let files: Awaited<ReturnType<typeof openHeld>>;
  try {
    await listenOn(nbd, where);
    await listenOn(control, controlPath);
    files = await openHeld(opts, devInfo, logInfo);
  } catch (e) {
    abandon();
    throw e;
  }
  try {
    if (!devInfo) await files.data.truncate(size);
    const logIsBlock = describeFd(files.log.fd).isBlockDevice;
    if (!resume && !logIsBlock) await files.log.truncate(0);
    const capacity = opts.logSize ?? (logIsBlock ? describeFd(files.log.fd).size : undefined);
    writer = await LogWriter.create(fileLog(files.log), {
      sectorSize: S,
      capacity,
      onFull: opts.onLogFull ?? 'disable',
      resume: resume && { entries: resume.entries, end: resume.end },
    });
  } catch (e) {
    abandon();
    files.holding.release();
    await Promise.all([files.data.close(), files.log.close()]);
    throw e;
  }
  const w = writer;
  disk = new LoggedDisk(files.data, w);
  for (const sock of early.splice(0)) accept(sock, disk);

  let uri: string;
  if (typeof where === 'string') uri = `nbd+unix:///${encodeURIComponent(exp.name)}?socket=${where}`;
  else {
    const port = (nbd.address() as net.AddressInfo).port;
    uri = `nbd://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}/${encodeURIComponent(exp.name)}`;
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      nbd.close();
      control.close();
      for (const c of connections) c.stop();
      await Promise.allSettled([...connections].map((c) => c.done));
      await w.close();
      await Promise.all([files.data.close(), files.log.close()]);
      files.holding.release();
      for (const p of [opts.socket, controlPath]) if (p) clearSocket(p);
    })());

  return { uri, controlPath, export: exp, status: () => w.status(), mark: (t) => w.mark(t), stop };
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
