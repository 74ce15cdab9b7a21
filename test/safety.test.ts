// Nothing destroys a log or a live image (issue 11): every writing command refuses, before it
// opens anything for writing, the log itself, a file or device the log shares, a mounted file
// system or a file backing one, and a file a running `serve` holds; the refusal is one line
// naming the reason, the exit status is 1, and the log and the image keep every byte.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binRunner } from './support/run.ts';
import { kernelLog, scratchDir, sha256File } from './support/fixtures.ts';
import { startServe, type ServeProcess } from './support/serve-process.ts';
import { front, serverMissing, startServer, type RunningServer } from './support/replay-log-server.ts';

const dir = scratchDir('safety');
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  fs.rmSync(dir, { recursive: true, force: true });
});

const { logwrites, replayLog } = binRunner(dir);

// replay-log also runs through a replay-log server (dist/replay-log handing the call over), as
// xfstests may: the server runs the same guard, in another process, so it must refuse the same.
const serverWhy = serverMissing();
if (serverWhy) console.warn(`replay-log's cases run in-process only: ${serverWhy}`);
let replayLogServer: RunningServer | undefined;
beforeAll(async () => {
  if (!serverWhy) replayLogServer = await startServer(path.join(dir, 'replay-log-server', 'replay-log.sock'));
});
afterAll(() => replayLogServer?.stop());
/** replay-log in its own Node and, when there is one, through the server. */
const replayLogs = (...args: string[]) => [
  replayLog(...args),
  ...(replayLogServer ? [front(replayLogServer.socket, args, { cwd: dir })] : []),
];

let n = 0;
/** A copy of a kernel-written log under a unique name. */
function logCopy(): string {
  const p = path.join(dir, `log-${n++}.img`);
  fs.copyFileSync(kernelLog('ext4-512'), p);
  return p;
}

function image(bytes = 64 << 20): string {
  const p = path.join(dir, `img-${n++}.img`);
  fs.writeFileSync(p, '');
  fs.truncateSync(p, bytes);
  return p;
}

/** Exit status 1 with exactly one stderr line matching `line`, and every file unchanged. */
function refused(
  r: { status: number | null; stderr: string; stdout?: string },
  line: RegExp,
  files: Record<string, string>,
): void {
  expect(r.stderr).toMatch(line);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.status).toBe(1);
  for (const [p, sha] of Object.entries(files)) expect(sha256File(p), p).toBe(sha);
}

const hashes = (...files: string[]) => Object.fromEntries(files.map((f) => [f, sha256File(f)]));

const loopWhy =
  process.getuid?.() !== 0
    ? 'not root: cannot attach loop devices'
    : !fs.existsSync('/dev/loop-control')
      ? 'no /dev/loop-control: loop devices are unavailable'
      : undefined;
if (loopWhy) console.warn(`skipping the loop-device and mount cases: ${loopWhy}`);

function attach(file: string, partitions = false): string {
  const r = spawnSync('losetup', ['-f', '--show', ...(partitions ? ['-P'] : []), file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`losetup failed: ${r.stderr.trim()}`);
  const dev = r.stdout.trim();
  cleanups.push(() => void spawnSync('losetup', ['-d', dev]));
  return dev;
}

function mount(dev: string): string {
  const mnt = fs.mkdtempSync(path.join(dir, 'mnt-'));
  const r = spawnSync('mount', [dev, mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount ${dev} failed: ${r.stderr.trim()}`);
  cleanups.push(() => void spawnSync('umount', [mnt]));
  return mnt;
}

function mkfs(dev: string): void {
  const r = spawnSync('mkfs.ext4', ['-q', '-F', dev], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs.ext4 failed: ${r.stderr.trim()}`);
}

describe.skipIf(!!loopWhy)('the log through a loop device', () => {
  it('replay-log onto a loop device over its own log file is refused (it zeroed the super)', () => {
    const log = logCopy();
    const loop = attach(log);
    for (const r of replayLogs('--log', log, '--replay', loop))
      refused(
        r,
        /^Refusing to replay: \/dev\/loop\d+ and the log share the file \d+:\d+ \(device:inode\): .* \(use --force to do it anyway\)\n$/,
        hashes(log),
      );
  });

  it('replay-log from a loop device onto the file behind it is refused (it applied the log onto itself)', () => {
    const log = logCopy();
    const loop = attach(log);
    for (const r of replayLogs('--log', loop, '--replay', log))
      refused(
        r,
        /^Refusing to replay: .*log-\d+\.img and the log share the file \d+:\d+ \(device:inode\)/,
        hashes(log),
      );
  });

  it("explore --materialize onto the file behind the log's loop device is refused", () => {
    const log = logCopy();
    const loop = attach(log);
    const r = logwrites('explore', loop, '--materialize', '10', log);
    refused(r, /^logwrites: refusing to write .*: .* and the log share the file/, hashes(log));
  });

  it('--force still gets past the guard', () => {
    const log = logCopy();
    const copy = path.join(dir, `copy-${n++}.img`);
    fs.copyFileSync(log, copy);
    const loop = attach(copy);
    const r = replayLog('--log', log, '--replay', loop, '--limit', '1', '--force');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe.skipIf(!!loopWhy)('a mounted ext4', () => {
  let img: string;
  let loop: string;
  let mnt: string;
  beforeAll(() => {
    img = image();
    mkfs(img);
    loop = attach(img);
    mnt = mount(loop);
  });

  it('replay onto the image file behind a mounted loop device is refused', () => {
    const log = logCopy();
    const before = hashes(img, log);
    refused(
      logwrites('replay', log, img),
      new RegExp(
        `^logwrites: refusing to replay: .*img-\\d+\\.img backs ${loop}, mounted on ${mnt} \\(--force to do it anyway\\)\\n$`,
      ),
      before,
    );
    for (const r of replayLogs('--log', log, '--replay', img))
      refused(
        r,
        new RegExp(
          `^Refusing to replay: .*img-\\d+\\.img backs ${loop}, mounted on ${mnt} \\(use --force to do it anyway\\)\\n$`,
        ),
        before,
      );
  });

  it('replay onto the mounted loop device itself is refused', () => {
    const log = logCopy();
    refused(
      logwrites('replay', log, loop),
      new RegExp(`^logwrites: refusing to replay: ${loop} is mounted on ${mnt} `),
      hashes(img, log),
    );
    for (const r of replayLogs('--log', log, '--replay', loop))
      refused(r, new RegExp(`^Refusing to replay: ${loop} is mounted on ${mnt} `), hashes(img, log));
  });

  it('explore --image, recover --write and serve refuse it too', () => {
    const log = logCopy();
    const before = hashes(img, log);
    refused(
      logwrites('explore', log, '--image', img, '--exec', 'true'),
      /^logwrites: refusing to write .*: .* backs \/dev\/loop\d+, mounted on /,
      before,
    );
    refused(
      logwrites(
        'serve',
        '--dev',
        img,
        '--log',
        path.join(dir, `fresh-${n++}.log`),
        '--socket',
        path.join(dir, `s-${n++}.sock`),
      ),
      /^logwrites: refusing to serve: .* backs \/dev\/loop\d+, mounted on .*\(--force to do it anyway\)\n$/,
      before,
    );
  });

  it('an image whose partition is mounted through a loop device is refused, naming the chain', () => {
    const disk = image(80 << 20);
    // An MBR with one partition from sector 2048 to the end.
    const mbr = Buffer.alloc(512);
    mbr[446 + 4] = 0x83;
    mbr.writeUInt32LE(2048, 446 + 8);
    mbr.writeUInt32LE((80 << 11) - 2048, 446 + 12);
    mbr.writeUInt16LE(0xaa55, 510);
    const fd = fs.openSync(disk, 'r+');
    fs.writeSync(fd, mbr, 0, 512, 0);
    fs.closeSync(fd);
    const dev = attach(disk, true);
    for (let i = 0; i < 50 && !fs.existsSync(`${dev}p1`); i++) spawnSync('sleep', ['0.1']);
    if (!fs.existsSync(`${dev}p1`)) spawnSync('partx', ['-a', dev]);
    mkfs(`${dev}p1`);
    const where = mount(`${dev}p1`);
    const log = logCopy();
    refused(
      logwrites('replay', log, disk, '--to', '10'),
      new RegExp(`backs ${dev}, which holds partition ${dev}p1, mounted on ${where} `),
      hashes(disk, log),
    );
    refused(
      logwrites('replay', log, dev, '--to', '10'),
      new RegExp(`^logwrites: refusing to replay: ${dev} holds partition ${dev}p1, mounted on ${where} `),
      hashes(disk, log),
    );
  });
});

describe('serve never destroys a log', () => {
  it('an existing log without --append or --force is refused and kept whole', () => {
    const log = logCopy();
    const data = image();
    refused(
      logwrites('serve', '--dev', data, '--log', log, '--socket', path.join(dir, `s-${n++}.sock`)),
      /^logwrites: refusing to start over .*log-\d+\.img: it holds a log of 282 entries \(--append continues it, --force starts over\)\n$/,
      hashes(log, data),
    );
  });

  it('a socket in a missing folder says ENOENT, and nothing is created or cut', () => {
    const log = logCopy();
    const data = image();
    const before = hashes(log, data);
    refused(
      logwrites('serve', '--dev', data, '--log', log, '--append', '--socket', path.join(dir, 'no-such-dir', 's.sock')),
      /^logwrites: cannot listen on .*no-such-dir\/s\.sock: ENOENT: the folder .*no-such-dir does not exist\n$/,
      before,
    );
    const fresh = path.join(dir, `new-${n++}`);
    const r = logwrites(
      'serve',
      '--dev',
      `${fresh}.img`,
      '--size',
      '1M',
      '--log',
      `${fresh}.log`,
      '--socket',
      path.join(dir, 'no-such-dir', 's.sock'),
    );
    expect(r.status).toBe(1);
    expect(fs.existsSync(`${fresh}.img`) || fs.existsSync(`${fresh}.log`)).toBe(false);
  });

  it('the data device and the log as one file are refused', () => {
    const x = image();
    fs.writeFileSync(x, 'precious');
    refused(
      logwrites('serve', '--dev', x, '--log', x, '--socket', path.join(dir, `s-${n++}.sock`)),
      /^logwrites: refusing to serve: .*img-\d+\.img is the log itself \(--force to do it anyway\)\n$/,
      hashes(x),
    );
    const missing = path.join(dir, `both-${n++}.img`);
    const r = logwrites(
      'serve',
      '--dev',
      missing,
      '--size',
      '1M',
      '--log',
      missing,
      '--socket',
      path.join(dir, `s-${n++}.sock`),
    );
    expect(r.stderr).toMatch(/^logwrites: refusing to serve: .* would be both the data device and the log/);
    expect(fs.existsSync(missing)).toBe(false);
  });
});

describe('files a running serve holds', () => {
  let server: ServeProcess | undefined;
  let data: string;
  let log: string;
  beforeAll(async () => {
    const cwd = fs.mkdtempSync(path.join(dir, 'serve-'));
    data = path.join(cwd, 'dx.img');
    log = path.join(cwd, 'lx.img');
    server = await startServe(
      ['--dev', data, '--log', log, '--size', '64M', '--socket', path.join(cwd, 'nbd.sock')],
      cwd,
    );
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('replay, replay-log, explore --image, recover --write and another serve refuse them', () => {
    const src = logCopy();
    const before = hashes(data, log);
    const held = (what: string) =>
      new RegExp(`is held by a running logwrites serve \\(pid ${server!.proc.pid}, as its ${what} .*\\)`);
    refused(logwrites('replay', src, data), held('data device'), before);
    for (const r of replayLogs('--log', src, '--replay', log)) refused(r, held('log'), before);
    refused(logwrites('explore', src, '--image', data, '--exec', 'true'), held('data device'), before);
    refused(
      logwrites('recover', log, '--write'),
      /^logwrites: refusing to rewrite the super of .*lx\.img: .* is held by a running logwrites serve/,
      before,
    );
    refused(
      logwrites(
        'serve',
        '--dev',
        data,
        '--log',
        path.join(dir, `other-${n++}.log`),
        '--socket',
        path.join(dir, `s-${n++}.sock`),
      ),
      held('data device'),
      before,
    );
  });

  it('a server killed with SIGKILL holds nothing', async () => {
    await server!.kill();
    server = undefined;
    const src = logCopy();
    const r = logwrites('replay', src, data, '--to', '10');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
