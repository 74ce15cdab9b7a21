// Run the CLIs with captured output: in-process (replayLog), or as the built bins (binRunner).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { replayLogMain } from '../../src/node/replay-log/replay-log.ts';
import { ROOT } from './fixtures.ts';

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

export async function replayLog(...args: string[]): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const status = await replayLogMain(args, {
    out: { write: (s) => void (stdout += s), flush: () => {} },
    err: (line) => void (stderr += line + '\n'),
    prog: 'replay-log',
  });
  return { status, stdout, stderr };
}

/** `logwrites` and `replay-log` as users start them (bin/, built dist), run in `cwd`. */
export function binRunner(cwd: string) {
  const run = (bin: 'logwrites' | 'replay-log', ...args: string[]) => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', `${bin}.js`), ...args], {
      encoding: 'utf8',
      cwd,
      timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    logwrites: (...args: string[]) => run('logwrites', ...args),
    replayLog: (...args: string[]) => run('replay-log', ...args),
  };
}
