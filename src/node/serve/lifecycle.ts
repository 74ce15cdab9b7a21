// `logwrites serve`'s lifecycle: judge the files, listen on both sockets, open the files,
// serve NBD clients through the logged disk, and on stop answer what is in flight and close
// the log with its end mark. Nothing is created or written before both sockets listen.

import * as net from 'node:net';
import * as path from 'node:path';
import { LogWriter, type OnLogFull } from '../../writer.ts';
import { describeFd, describePath } from '../io/device-info.ts';
import type { NbdExport } from '../nbd/protocol.ts';
import { serveConnection, type NbdConnection } from '../nbd/transmission.ts';
import { answerControl } from './control.ts';
import { dataSize, judge, openHeld, resumePoint, type HeldFiles, type ServedFiles } from './files.ts';
import { clearSocket, listenOn, nbdUri, parseListen } from './listen.ts';
import { fileLog, LoggedDisk } from './logged-disk.ts';
import { ServeError } from '../../errors.ts';

const MAX_PAYLOAD = 32 << 20;

export interface ServeOptions extends ServedFiles {
  /** Listen on a Unix socket here, or on `listen` (`host:port`); one of the two. */
  socket?: string;
  listen?: string;
  exportName?: string;
  /** Sectorsize of a fresh log (an appended log keeps its own). */
  sectorSize?: number;
  /** Create `dev` with this many bytes when it does not exist. */
  size?: number;
  /** Bytes the log may use (a block device's size is the default limit). */
  logSize?: number;
  onLogFull?: OnLogFull;
  /** Control socket path; default beside the log. */
  control?: string;
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
 * Judge, listen, then open: nothing is created or written until both sockets listen, so a
 * server that cannot start leaves every file as it was.
 */
export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  if (!!opts.socket === !!opts.listen) throw new ServeError('give exactly one of --socket PATH and --listen HOST:PORT');
  const where = opts.socket ?? parseListen(opts.listen!);
  const devInfo = describePath(opts.dev);
  const logInfo = describePath(opts.log);
  await judge(opts, devInfo, logInfo);
  const resume = opts.append && logInfo ? await resumePoint(opts.log) : undefined;
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
      .catch((e: unknown) =>
        process.stderr.write(
          `logwrites serve: a client connection failed: ${e instanceof Error ? e.message : String(e)}\n`,
        ),
      )
      .finally(() => connections.delete(c));
  };
  const nbd = net.createServer((sock) => (disk ? accept(sock, disk) : early.push(sock)));
  const controlPath = opts.control ?? `${opts.log}.control`;
  let writer: LogWriter | undefined;
  const control = net.createServer((sock) =>
    writer ? answerControl(sock, writer) : sock.end('error the server is starting\n'),
  );
  /** Give up starting: no socket left behind, no early client kept waiting. */
  const abandon = () => {
    // Only sockets we listen on are ours to remove (another server's must stay).
    if (nbd.listening && opts.socket) clearSocket(opts.socket);
    if (control.listening) clearSocket(controlPath);
    nbd.close();
    control.close();
    for (const sock of early) sock.destroy();
  };

  let files: HeldFiles;
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

  const uri = nbdUri(nbd, where, exp.name);

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
