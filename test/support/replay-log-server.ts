// The replay-log server and its native front as users run them (built dist/), for tests: a
// server on a socket of the test's own, and the front's calls with their output captured.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './fixtures.ts';

export const FRONT = path.join(ROOT, 'dist/replay-log');
export const CLI = path.join(ROOT, 'dist/cli.cjs');

/** Why the server cannot be tested here, or undefined when it can. */
export function serverMissing(): string | undefined {
  if (!fs.existsSync(FRONT))
    return "dist/replay-log (replay-log's native front) is not built: no C compiler at npm install";
  if (!fs.existsSync(path.join(ROOT, 'dist/native.node'))) return 'dist/native.node (the addon) is not built';
  return undefined;
}

export interface RunningServer {
  readonly socket: string;
  readonly child: ChildProcess;
  /** What the server logged so far. */
  log(): string;
  /** Resolves with the server's exit status once it has exited. */
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Start `logwrites replay-log-server --socket <socket>` (from `cli`), resolved once it listens or has exited. */
export async function startServer(
  socket: string,
  args: string[] = [],
  cli = CLI,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningServer> {
  const child = spawn(process.execPath, [cli, 'replay-log-server', '--socket', socket, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => void (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 1000 && !gone && !log.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 10));
  return {
    socket,
    child,
    log: () => log,
    exited,
    stop: async () => {
      if (!gone) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface FrontRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One call of the front, in `cwd`, with `env` added; LOGWRITES_SERVER=off in `env` runs it in-process. */
export function front(socket: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): FrontRun {
  const r = spawnSync(FRONT, args, {
    encoding: 'latin1',
    cwd: opts.cwd,
    env: { ...process.env, LOGWRITES_REPLAY_LOG_SOCKET: socket, ...opts.env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
