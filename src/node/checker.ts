// Running a user's checker on an image: through the shell, `{image}` replaced by the quoted
// path (also in $LOGWRITES_TARGET), asynchronous so that several run at once and signals are
// seen meanwhile. Replay and explore both check this way.

import { spawn } from 'node:child_process';

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const OUTPUT_KEPT = 4000;

export interface CheckResult {
  readonly status: number | null;
  readonly signal: string | null;
  /** The last few KiB of what it printed (stdout and stderr together). */
  readonly output: string;
}

export function runCheck(cmd: string, image: string, env: Record<string, string> = {}): Promise<CheckResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', cmd.replaceAll('{image}', quote(image))], {
      env: { ...process.env, LOGWRITES_TARGET: image, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.length > 16 * OUTPUT_KEPT) output = output.slice(-OUTPUT_KEPT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, output: output.slice(-OUTPUT_KEPT) }));
  });
}
