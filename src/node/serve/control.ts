// serve's control socket, the counterpart of `dmsetup message` and `dmsetup status`: one
// request per line (`mark <text>` or `status`), one answer line (`ok ...` or `error ...`).

import * as net from 'node:net';
import type { LogWriter } from '../../writer.ts';
import { ServeError } from '../../errors.ts';

/** Longest request line a client may send. */
const MAX_REQUEST = 64 * 1024;

/** Answer one control client's requests, each as it arrives. */
export function answerControl(sock: net.Socket, writer: LogWriter): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_REQUEST) return void sock.end('error request too long\n');
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
