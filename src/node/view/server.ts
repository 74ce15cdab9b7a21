// `logwrites view`: the offline viewer served on 127.0.0.1, optionally with a log preloaded.
// The log is served with HTTP range requests and streamed from disk, so the page reads only
// what it looks at and the server never holds the log in memory.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ShortRead, ViewerError } from '../../errors.ts';

export interface ViewerOptions {
  /** The built page (dist/web). */
  readonly root: string;
  /** A log to preload; the page opens it from /log/<name>. */
  readonly log?: string;
  /** 0 picks a free port. */
  readonly port?: number;
}

export interface RunningViewer {
  /** Where to point a browser (with the log preloaded when there is one). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
};

/** The byte range a Range header asks for, 'all' when there is none (or several), null when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'all' | null {
  if (!header) return 'all';
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return 'all';
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Math.min(Number(b), size);
    return n > 0 ? { start: size - n, end: size - 1 } : null;
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  return start < size && start <= end ? { start, end } : null;
}

function sendFile(req: http.IncomingMessage, res: http.ServerResponse, file: string, type: string): void {
  let size: number | undefined;
  try {
    const st = fs.statSync(file);
    if (st.isFile()) size = st.size;
  } catch {
    // Missing: not found, as a folder is.
  }
  if (size === undefined) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  const range = parseRange(req.headers.range, size);
  const headers = {
    'Content-Type': type,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  };
  if (range === null) {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
    return;
  }
  const { start, end } = range === 'all' ? { start: 0, end: size - 1 } : range;
  res.writeHead(range === 'all' ? 200 : 206, {
    ...headers,
    'Content-Length': String(Math.max(0, end - start + 1)),
    ...(range === 'all' ? {} : { 'Content-Range': `bytes ${start}-${end}/${size}` }),
  });
  if (req.method === 'HEAD' || end < start) {
    res.end();
    return;
  }
  sendBytes(file, start, end + 1, res).catch(() => res.destroy());
}

/** Bytes per read and per socket write: with 64 KiB, a 4 MiB range took 64 writes to the socket. */
const PIECE = 1 << 20;

/**
 * Bytes [start, end) of `file` to `res`, read into two buffers by turns, each read again once
 * the socket has taken it. A read stream allocated a fresh buffer for every piece, whose pages
 * faulted in on first touch: serving the 1.1 GiB log took 0.75-0.9 s of CPU with 17-40k page
 * faults, now 0.56-0.73 s with 3-12k (curl, 32 MiB ranges two at a time, a loaded machine).
 * CPU matters here: the server shares the machine's cores with the browser reading from it.
 */
async function sendBytes(file: string, start: number, end: number, res: http.ServerResponse): Promise<void> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buffers = [
      Buffer.allocUnsafeSlow(Math.min(PIECE, end - start)),
      Buffer.allocUnsafeSlow(Math.min(PIECE, end - start)),
    ];
    const written: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    /** Set when a write failed (the client went away): nothing more is read. */
    let failed: Error | null | undefined;
    for (let at = start, turn = 0; at < end; at += PIECE, turn ^= 1) {
      await written[turn];
      if (failed || res.destroyed) return;
      const buffer = buffers[turn]!;
      const want = Math.min(PIECE, end - at);
      const { bytesRead } = await fh.read(buffer, 0, want, at);
      // A file that shrank under us: the client sees a short body, never other bytes.
      if (bytesRead < want) throw new ShortRead(at + bytesRead);
      written[turn] = new Promise((resolve) =>
        res.write(buffer.subarray(0, want), (e) => {
          failed ??= e;
          resolve();
        }),
      );
    }
    await Promise.all(written);
    if (!failed) res.end();
  } finally {
    await fh.close();
  }
}

export async function startViewer(opts: ViewerOptions): Promise<RunningViewer> {
  const root = path.resolve(opts.root);
  if (!fs.existsSync(path.join(root, 'index.html'))) throw new ViewerError(`no viewer in ${root} (run npm run build)`);
  const log = opts.log === undefined ? undefined : path.resolve(opts.log);
  if (log !== undefined) fs.closeSync(fs.openSync(log, 'r'));
  const logPath = log === undefined ? undefined : `log/${encodeURIComponent(path.basename(log))}`;

  let allowed: ReadonlySet<string> = new Set();
  const server = http.createServer((req, res) => {
    // A page elsewhere whose name was rebound to 127.0.0.1 (DNS rebinding) sends its own name
    // as Host, and its origin with cross-origin requests: only our own address may read the log.
    const origin = req.headers.origin;
    if (!allowed.has(`http://${req.headers.host ?? ''}`) || (origin !== undefined && !allowed.has(origin))) {
      res
        .writeHead(403, { 'Content-Type': 'text/plain' })
        .end(`logwrites view answers only requests for ${[...allowed].join(' or ')}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/' && logPath && !url.searchParams.has('log')) {
      res.writeHead(302, { Location: `/?log=${encodeURIComponent(logPath)}` }).end();
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (log && logPath && url.pathname === `/${logPath}`) return sendFile(req, res, log, 'application/octet-stream');
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = path.resolve(root, rel);
    // Only files inside the viewer's folder, whatever the path says.
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(404).end();
      return;
    }
    sendFile(req, res, file, TYPES[path.extname(file)] ?? 'application/octet-stream');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  allowed = new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  return {
    url: `http://127.0.0.1:${port}/${logPath ? `?log=${encodeURIComponent(logPath)}` : ''}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
