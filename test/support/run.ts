// Run the CLIs in-process with captured output.
import { replayLogMain } from '../../src/node/replay-log/replay-log.ts';

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
