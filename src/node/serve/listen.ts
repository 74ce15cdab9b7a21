// Where serve listens: a Unix socket or host:port, and the NBD URI a client connects to.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ServeError } from '../../errors.ts';

export type Where = string | { host: string; port: number };

export function parseListen(spec: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(spec);
  if (!m) throw new ServeError(`--listen wants HOST:PORT, got '${spec}'`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(m[2]) };
}

/**
 * Listen on `where`. Unix sockets: a missing folder is named as such (Node says EACCES), a
 * stale socket file from a server that died is replaced, a live server's socket is not.
 */
export async function listenOn(server: net.Server, where: Where): Promise<void> {
  const what = typeof where === 'string' ? where : `${where.host}:${where.port}`;
  if (typeof where === 'string') {
    const dir = path.dirname(path.resolve(where));
    if (!fs.existsSync(dir))
      throw new ServeError(`cannot listen on ${where}: ENOENT: the folder ${dir} does not exist`);
    if (await answers(where))
      throw new ServeError(`cannot listen on ${where}: EADDRINUSE: another server is listening there`);
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
export function clearSocket(p: string): void {
  try {
    if (fs.statSync(p).isSocket()) fs.unlinkSync(p);
  } catch {
    // Nothing there.
  }
}

/** The NBD URI of export `name` on a listening `server`. */
export function nbdUri(server: net.Server, where: Where, name: string): string {
  if (typeof where === 'string') return `nbd+unix:///${encodeURIComponent(name)}?socket=${where}`;
  const port = (server.address() as net.AddressInfo).port;
  return `nbd://${where.host.includes(':') ? `[${where.host}]` : where.host}:${port}/${encodeURIComponent(name)}`;
}
