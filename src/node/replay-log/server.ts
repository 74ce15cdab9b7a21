// The replay-log server (`logwrites replay-log-server`): one warm Node process that runs the
// replay-log calls its client (client.c, dist/replay-log) hands it, so that xfstests' thousands
// of calls per test do not each pay Node's start and a cold JIT. A call runs as it would
// in-process: on the client's own fds 0-2 (so output, and an fsck child's, lands where the
// client's would), in its working directory, with its environment, through the same
// replayLogMain, one call at a time. The wire is src/node/replay-log/wire.h; the addon
// receives the fds, which Node cannot.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ReplayLogServerError } from '../../errors.ts';
import { loadNative, type Native, type ReplayLogCall } from '../io/native.ts';
import { BUILD_ID } from './build-id.ts';
import { processConsole, replayLogMain } from './replay-log.ts';
import { warmUp } from './warm-up.ts';

export interface ReplayLogServerOptions {
  /** The socket's path; by default the rule the client follows (wire.h). */
  socket?: string;
  /** Stop after this many milliseconds without a call; by default, never. */
  idleMs?: number;
  /** The server's own log: start, refusals, stop. Never written to while a call runs. */
  log?: (line: string) => void;
}

export interface ReplayLogServer {
  readonly socket: string;
  /** Calls served so far. */
  readonly calls: number;
  /** Resolves with why the server stopped (idle, a client of another build, close()). */
  readonly stopped: Promise<string>;
  /** Stop listening; a call that runs finishes first. */
  close(): Promise<void>;
}

/**
 * Listen for replay-log calls; refuses when the addon is missing or another server listens at
 * the socket. The process's working directory is / from then on.
 */
export async function startReplayLogServer(o: ReplayLogServerOptions = {}): Promise<ReplayLogServer> {
  const native = loadNative();
  if (!native)
    throw new ReplayLogServerError(
      'the replay-log server needs the native addon (dist/native.node), which is not built here or LOGWRITES_NO_ADDON=1 turned it off',
    );
  const socket = path.resolve(o.socket ?? native.replayLogSocket());
  const log = o.log ?? (() => {});
  await claimSocket(socket);
  // Between calls the server sits in /, so that it holds no folder busy (a file system it was
  // started from can still be unmounted); each call runs in its caller's folder.
  process.chdir('/');
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ReplayLogServerError(`cannot listen on ${socket}: ${e.message}`)));
    server.listen(socket, resolve);
  });
  fs.chmodSync(socket, 0o600);
  let calls = 0;
  // Calls that come in meanwhile wait for it.
  let queue = (async () => {
    const t = performance.now();
    // Without a stored index: the warm-up's log is in memory, and nothing of it is kept.
    const warm = await withEnv({ ...process.env, LOGWRITES_CACHE: 'off' }, () => warmUp(native)).catch((e: unknown) => {
      log(`warm-up failed: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    });
    if (warm) log(`warmed up in ${Math.round(performance.now() - t)} ms`);
  })();
  let idle: NodeJS.Timeout | undefined;
  let stop!: (why: string) => void;
  const stopped = new Promise<string>((resolve) => {
    stop = (why) => {
      clearTimeout(idle);
      server.close();
      void queue.then(() => resolve(why));
    };
  });
  const arm = () => {
    clearTimeout(idle);
    if (o.idleMs !== undefined) idle = setTimeout(() => stop(`no call for ${o.idleMs} ms`), o.idleMs);
  };
  server.on('connection', (sock) => {
    clearTimeout(idle);
    queue = queue
      .then(async () => {
        const served = await serveCall(native, sock, log);
        calls += served === 'served' ? 1 : 0;
        if (served === 'stale') stop('a client of another build called');
        else arm();
      })
      // One call's failure must not stop the calls after it.
      .catch((e: unknown) => {
        sock.destroy();
        log(`a call failed: ${e instanceof Error ? e.message : String(e)}`);
        arm();
      });
  });
  arm();
  log(`replay-log server ${BUILD_ID} listening on ${socket}`);
  return {
    socket,
    get calls() {
      return calls;
    },
    stopped,
    close: async () => {
      stop('asked to stop');
      await stopped;
    },
  };
}

/**
 * Make `socket`'s path ours: its folder is created private (0700) and must be our user's; a
 * socket left by a server that is gone is removed; a live server, or a file that is not a
 * socket, is refused.
 */
async function claimSocket(socket: string): Promise<void> {
  const dir = path.dirname(socket);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const d = fs.lstatSync(dir);
  if (!d.isDirectory() || d.uid !== process.geteuid!())
    throw new ReplayLogServerError(`cannot listen on ${socket}: ${dir} is not a folder of this user's`);
  const st = fs.lstatSync(socket, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isSocket())
    throw new ReplayLogServerError(`cannot listen on ${socket}: a file that is not a socket is there`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => resolve(true)).once('error', () => resolve(false));
    c.unref();
  });
  if (live) throw new ReplayLogServerError(`cannot listen on ${socket}: another replay-log server listens there`);
  fs.unlinkSync(socket);
}

type Served = 'served' | 'refused' | 'stale';

async function serveCall(native: Native, sock: net.Socket, log: (line: string) => void): Promise<Served> {
  // The accepted connection's fd: Node reads nothing from it while paused (pauseOnConnect).
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) {
    // Closed before its turn came (the client gave up while another call ran).
    sock.destroy();
    return 'refused';
  }
  let call: ReplayLogCall;
  try {
    call = native.receiveCall(fd);
  } catch (e) {
    log(`refused a call: ${(e as Error).message}`);
    sock.destroy();
    return 'refused';
  }
  const refusal = native.peerGone(fd)
    ? { status: native.REPLY_REFUSED, why: `a call whose client went away before its turn (${call.argv.join(' ')})` }
    : call.uid !== process.geteuid!()
      ? { status: native.REPLY_REFUSED, why: `a call from uid ${call.uid}, not this server's user` }
      : call.build !== BUILD_ID
        ? {
            status: native.REPLY_STALE,
            why: `a client of build ${call.build}, not this server's ${BUILD_ID}: stopping`,
          }
        : undefined;
  if (refusal) {
    for (const f of call.fds) fs.closeSync(f);
    native.replyCall(fd, refusal.status);
    sock.destroy();
    log(`refused ${refusal.why}`);
    return refusal.status === native.REPLY_STALE ? 'stale' : 'refused';
  }
  const status = await runCall(native, call, fd, log);
  if (!native.replyCall(fd, status))
    log(
      `a client went away during its call (${call.argv.join(' ')}): the call stopped there, as its own process would have`,
    );
  sock.destroy();
  return 'served';
}

/**
 * replayLogMain on the call's fds, in its folder, with its environment; our fds and folder
 * are back afterwards, the environment stays the call's until the next call sets its own
 * (nothing between calls reads it). The replay stops between two writes once the client
 * hangs up.
 */
async function runCall(native: Native, call: ReplayLogCall, fd: number, log: (line: string) => void): Promise<number> {
  native.adoptStdio(...call.fds);
  const con = { ...processConsole(), prog: call.argv[0] ?? 'replay-log', gone: goneCheck(native, fd) };
  try {
    useEnv(envOf(call.env));
    try {
      process.chdir(call.cwd);
    } catch (e) {
      con.err(`replay-log: cannot work in ${call.cwd}: ${(e as Error).message}`);
      return 1;
    }
    return await replayLogMain(call.argv.slice(1), con);
  } catch (e) {
    // Only a failure to tell the client what failed gets here (its stderr is gone).
    log(`a call failed past its own error handling: ${(e as Error).message}`);
    return 1;
  } finally {
    native.restoreStdio();
    process.chdir('/');
  }
}

/** How often a call looks whether its client is gone: a replay asks before each of its (thousands of) writes. */
const GONE_EVERY_MS = 2;

/** Whether the client hung up, asking the kernel at most every GONE_EVERY_MS. */
function goneCheck(native: Native, fd: number): () => boolean {
  let next = 0;
  return () => {
    const now = performance.now();
    if (now < next) return false;
    next = now + GONE_EVERY_MS;
    return native.peerGone(fd);
  };
}

/**
 * The last call's environment, as its client sent it and as an object: the calls of one test
 * come from one shell and mostly bring the same ~40 strings, which compare in less time than
 * they parse (~0.07 ms a call), and the same object then needs no change to process.env.
 */
let lastEnv: { sent: readonly string[]; env: NodeJS.ProcessEnv } | undefined;

function envOf(sent: readonly string[]): NodeJS.ProcessEnv {
  if (lastEnv && lastEnv.sent.length === sent.length && lastEnv.sent.every((kv, i) => kv === sent[i]))
    return lastEnv.env;
  const env = Object.fromEntries(sent.filter((kv) => kv.indexOf('=') > 0).map((kv) => kv.split(/=(.*)/s, 2)));
  lastEnv = { sent, env };
  return env;
}

/**
 * Run `work` with `env` as the whole environment, ours again afterwards (process.env writes
 * through to environ, which an fsck child inherits).
 */
async function withEnv<T>(env: NodeJS.ProcessEnv, work: () => Promise<T>): Promise<T> {
  const own = current();
  useEnv(env);
  try {
    return await work();
  } finally {
    useEnv(own);
  }
}

/**
 * process.env as useEnv last left it (taken at the first use; nothing else in the server
 * changes it), kept here: each read or write of process.env is a getenv or setenv, and
 * comparing a caller's ~40 variables with it there cost ~0.2 ms a call.
 */
let environment: NodeJS.ProcessEnv | undefined;

const current = () => (environment ??= { ...process.env });

/** Make process.env `to`, changing only what differs. */
function useEnv(to: NodeJS.ProcessEnv): void {
  const from = current();
  if (to === from) return;
  for (const k of Object.keys(from)) if (!(k in to)) delete process.env[k];
  for (const [k, v] of Object.entries(to)) if (from[k] !== v) process.env[k] = v;
  environment = to;
}
