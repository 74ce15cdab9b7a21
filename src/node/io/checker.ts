// Running a user's checker on an image: through the shell, `{image}` replaced by the quoted
// path (also in $LOGWRITES_TARGET), asynchronous so that several run at once and signals are
// seen meanwhile. Replay and explore both check this way.
//
// Bounded checks (a timeout, or a caller that may abort) run in a process group of their own,
// so that the whole group, the shell and whatever it started, is killed at once and nothing
// is left writing to an image the next state reuses. Unbounded checks stay in our group,
// where a Ctrl-C at the terminal reaches them as it reaches us.

import { spawn } from 'node:child_process';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const OUTPUT_KEPT = 4000;

export interface CheckResult {
  readonly status: number | null;
  readonly signal: string | null;
  /** The last few KiB of what it printed (stdout and stderr together). */
  readonly output: string;
  /** It ran out of time and was killed: it said nothing about the image. */
  readonly timedOut: boolean;
}

export interface CheckOptions {
  /** Variables added to the checker's environment. */
  readonly env?: Record<string, string>;
  /** Kill the checker's process group after this many milliseconds. */
  readonly timeoutMs?: number;
  /** Kill the checker's process group when this aborts. */
  readonly signal?: AbortSignal;
}

/** SIGKILL every process of the group `pgid` leads; a group already gone is fine. */
function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

export function runCheck(cmd: string, image: string, o: CheckOptions = {}): Promise<CheckResult> {
  const bounded = o.timeoutMs !== undefined || o.signal !== undefined;
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', cmd.replaceAll('{image}', quote(image))], {
      env: { ...process.env, LOGWRITES_TARGET: image, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // A new session: the shell leads a process group of its own.
      detached: bounded,
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.length > 16 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    let exited = false;
    // Stop at once: the group dies, and pipes a straggler outside it still holds are let go.
    // Once the shell is reaped its pid may be reused, so its group is killed only while it lives.
    const end = () => {
      if (!exited) killGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = !exited), end()), o.timeoutMs);
    o.signal?.addEventListener('abort', end, { once: true });
    if (o.signal?.aborted) end();
    child.on('exit', () => {
      // What the shell left running in its group goes with it (this runs as it is reaped, before its pid can be reused).
      if (bounded) killGroup(child.pid);
      exited = true;
    });
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', end);
      resolve({ status, signal, output: output.slice(-OUTPUT_KEPT), timedOut });
    });
  });
}
