// Run `logwrites serve` (and mark/status) as separate processes, as users do.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './fixtures.ts';

/** Path of the built `logwrites` (npm test builds it first). */
export async function serveCli(): Promise<string> {
  return path.join(ROOT, 'bin/logwrites.js');
}

export interface ServeProcess {
  readonly proc: ChildProcess;
  readonly uri: string;
  readonly control: string;
  stdout(): string;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/** Start `logwrites serve args...` and wait until it listens. */
export async function startServe(args: string[], cwd: string): Promise<ServeProcess> {
  const cli = await serveCli();
  const proc = spawn(process.execPath, [cli, 'serve', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  while (!/control socket (.*)\n/.test(out)) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`serve did not start: ${err || out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const uri = /at (\S+)\n/.exec(out)![1]!;
  const control = path.resolve(cwd, /control socket (.*)\n/.exec(out)![1]!);
  return {
    proc,
    uri,
    control,
    stdout: () => out + err,
    stop: () => {
      proc.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

const execFileP = promisify(execFile);

/** Run a command; resolves to its stdout, rejects with its stderr on a non-zero exit. */
export async function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, {
      cwd: opts.cwd,
      timeout: opts.timeout ?? 120_000,
      maxBuffer: 64 << 20,
    });
    return stdout;
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${x.stderr || x.stdout || x.message}`);
  }
}

/** `logwrites mark|status ... --control SOCK` as a process. */
export async function logwrites(...args: string[]): Promise<string> {
  return run(process.execPath, [await serveCli(), ...args]);
}

export function hasCommand(cmd: string): boolean {
  return (process.env['PATH'] ?? '').split(':').some((d) => fs.existsSync(path.join(d, cmd)));
}
