// replay-log against xfstests' own replay-log, without needing it: every expectation in
// fixtures/upstream-replay-log.json was recorded by running the C tool (xfstests
// src/log-writes, built with gcc -O2) on the same logs with the same arguments: its stdout
// (or the stdout's sha256 when long), its exit status and the sha256 of the image it replayed.
// Only cases where we agree are recorded; the deliberate differences are tested in
// bad-logs.test.ts and replay-log.test.ts and listed in the README.
//
// The --fsck cases also prove that the checker inherits our stdout (Node marks fds 0-2
// close-on-exec; the addon's system(3) must undo that for the child).
//
// Logs: the kernel fixtures, the sample log at sectorsize 512 and 4096, the odd logs and the
// broken ones (test/support/sample-logs.ts). Cases with --fsck run the real binary, since
// the checker's output and ours share stdout and their interleaving depends on C's stdio
// buffering (a pipe and a file alike).
//
// Every case runs a second time through the replay-log server: the native front
// (dist/replay-log) hands the call, fds and all, to a running `logwrites replay-log-server`.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KERNEL_FIXTURES,
  kernelLog,
  manifest,
  ROOT,
  scratchDir,
  sha256File,
  zeroImage,
  type KernelFixture,
} from './support/fixtures.ts';
import { replayLog } from './support/run.ts';
import { badLogs, oddLogs, SAMPLE_DEVICE, sampleLog } from './support/sample-logs.ts';
import { FRONT, serverMissing, startServer, type RunningServer } from './support/replay-log-server.ts';

interface Golden {
  log: string;
  args: string[];
  /** The arguments name the log themselves (or leave it out): usage errors. */
  ownLog?: boolean;
  to?: 'pipe' | 'file';
  status: number;
  stdout?: string;
  stdoutSha256?: string;
  image?: string;
}

const GOLDEN: Golden[] = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/upstream-replay-log.json'), 'utf8'));
const dir = scratchDir('compat');
// As users run it, built (npm test builds first), with the addon whose system(3) runs --fsck.
const bin = path.join(ROOT, 'bin/replay-log.js');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Where each named log is, and the size of the device it replays onto. */
function logFile(name: string): { path: string; device: number } {
  if ((KERNEL_FIXTURES as readonly string[]).includes(name))
    return { path: kernelLog(name as KernelFixture), device: manifest(name as KernelFixture).device_size };
  const built = (): Uint8Array => {
    const sample = /^sample-(\d+)$/.exec(name);
    if (sample) return sampleLog(Number(sample[1])).bytes;
    const found = [
      ...badLogs().map((b) => ({ ...b, name: `bad-${b.name}` })),
      ...oddLogs().map((b) => ({ ...b, name: `odd-${b.name}` })),
    ].find((b) => b.name === name);
    if (!found) throw new Error(`no log named ${name}`);
    return found.bytes;
  };
  const p = path.join(dir, `${name}.log`);
  if (!fs.existsSync(p)) fs.writeFileSync(p, built());
  const S = Number(/^sample-(\d+)$/.exec(name)?.[1] ?? 512);
  return { path: p, device: (SAMPLE_DEVICE * S) / 512 };
}

/** Run `command` for real (our binary by default), stdout to a pipe or a file, as the C tool was. */
function runBinary(
  args: string[],
  to: 'pipe' | 'file',
  [cmd, ...pre]: string[] = [process.execPath, bin],
  env: NodeJS.ProcessEnv = process.env,
): { status: number | null; stdout: string } {
  if (to === 'pipe') {
    const r = spawnSync(cmd!, [...pre, ...args], { encoding: 'latin1', env });
    return { status: r.status, stdout: r.stdout };
  }
  const out = path.join(dir, 'stdout');
  const fd = fs.openSync(out, 'w');
  try {
    const r = spawnSync(cmd!, [...pre, ...args], { stdio: ['ignore', fd, 'ignore'], env });
    return { status: r.status, stdout: fs.readFileSync(out, 'latin1') };
  } finally {
    fs.closeSync(fd);
  }
}

const sha = (s: string) => crypto.createHash('sha256').update(s, 'latin1').digest('hex');
const byLog = new Map<string, Golden[]>();
for (const g of GOLDEN) byLog.set(g.log, [...(byLog.get(g.log) ?? []), g]);

const cases = (name: string) =>
  byLog.get(name)!.map((g) => [g.args.join(' ') + (g.to ? ` (stdout a ${g.to})` : ''), g] as const);

/** Run one golden case with `run` and check it against upstream's recorded result. */
async function check(
  name: string,
  g: Golden,
  run: (args: string[]) => Promise<{ status: number | null; stdout: string }>,
) {
  const log = logFile(name);
  const img = path.join(dir, `${name}.img`);
  const args = [...(g.ownLog ? [] : ['--log', log.path]), ...g.args.map((a) => (a === 'DEV' ? img : a))];
  if (g.args.includes('DEV')) zeroImage(dir, `${name}.img`, log.device);
  const r = await run(args);
  expect(r.status).toBe(g.status);
  if (g.stdout !== undefined) expect(r.stdout).toBe(g.stdout);
  else expect(sha(r.stdout)).toBe(g.stdoutSha256);
  if (g.image) expect(sha256File(img)).toBe(g.image);
}

describe.each([...byLog.keys()])('as upstream on %s', (name) => {
  it.each(cases(name))('%s', (_, g) =>
    check(name, g, async (args) => (g.args.includes('--fsck') ? runBinary(args, g.to ?? 'pipe') : replayLog(...args))),
  );
});

const missing = serverMissing();
describe.skipIf(!!missing)('as upstream through the replay-log server', () => {
  let server: RunningServer;
  const env = () => ({ ...process.env, LOGWRITES_REPLAY_LOG_SOCKET: server.socket });
  beforeAll(async () => {
    server = await startServer(path.join(dir, 'server', 'replay-log.sock'));
  });
  afterAll(async () => {
    await server.stop();
    // Every call was the server's: none fell back to its own Node.
    expect(server.log()).toMatch(/stopped \(SIGTERM\) after \d+ calls/);
    expect(server.log()).not.toMatch(/refused/);
  });
  describe.each([...byLog.keys()])('on %s', (name) => {
    it.each(cases(name))('%s', (_, g) =>
      check(name, g, async (args) => runBinary(args, g.to ?? 'pipe', [FRONT], env())),
    );
  });
});
if (missing) it.skip(`skipped: no run through the replay-log server (${missing})`, () => {});
