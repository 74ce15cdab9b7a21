// The replay-log server and its native front (src/node/replay-log/server.ts, client.c): a call
// through them is the call in-process (output, status, bytes, working directory, environment),
// a server of another build or user is never used, a client that goes away ends its call, and
// the server refuses a socket path it does not own. The golden cases run through it too, in
// replay-log-compat.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelLog, manifest, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { CLI, FRONT, front, serverMissing, startServer, type RunningServer } from './support/replay-log-server.ts';

const missing = serverMissing();
const dir = scratchDir('replay-log-server');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const LOG = kernelLog('ext4-fsync-many');
const DEVICE = manifest('ext4-fsync-many').device_size;
const root = process.getuid?.() === 0;
const haveLoop = root && fs.existsSync('/dev/loop-control') && spawnSync('losetup', ['--version']).status === 0;

describe.skipIf(!!missing)('the replay-log server', () => {
  let server: RunningServer;
  const socket = path.join(dir, 'run', 'replay-log.sock');
  const OFF = { LOGWRITES_SERVER: 'off' };
  beforeAll(async () => {
    server = await startServer(socket);
  });
  afterAll(() => server.stop());

  it('warms up first, in memory: no file and no stored index left anywhere', async () => {
    const cache = path.join(dir, 'warm-cache');
    const warm = await startServer(path.join(dir, 'warm', 'replay-log.sock'), [], CLI, {
      ...process.env,
      LOGWRITES_CACHE_DIR: cache,
    });
    try {
      await expect.poll(() => warm.log()).toMatch(/warmed up in \d+ ms/);
      expect(fs.existsSync(cache)).toBe(false);
      expect(fs.readdirSync(path.join(dir, 'warm'))).toEqual(['replay-log.sock']);
    } finally {
      await warm.stop();
    }
  });

  it('listens on a socket only its user can reach, in a private folder', () => {
    expect(fs.statSync(socket).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);
  });

  /** A call through the server and the same call in-process, with their replayed images. */
  function both(args: (img: string) => string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    const run = (tag: string, env: NodeJS.ProcessEnv) => {
      const img = zeroImage(dir, `${tag}.img`, DEVICE);
      const r = front(socket, args(img), { ...opts, env: { ...opts.env, ...env } });
      return { ...r, image: sha256File(img) };
    };
    return { served: run('served', {}), own: run('own', OFF) };
  }

  it.each([
    ['find the mkfs mark', () => ['--find', '--log', LOG, '--end-mark', 'mkfs']],
    ['find the next FUA', () => ['--find', '--log', LOG, '--next-fua', '--start-entry', '500']],
    ['count', () => ['--log', LOG, '--num-entries']],
    ['replay -vv to a limit', (img: string) => ['-vv', '--log', LOG, '--replay', img, '--limit', '1500']],
    ['replay to a mark', (img: string) => ['--log', LOG, '--replay', img, '--end-mark', 'batch3']],
    ['a mark that is not there', () => ['--find', '--log', LOG, '--end-mark', 'nope']],
    ['a usage error', () => ['--log', LOG, '--bogus']],
    ['a log that is not there', () => ['--find', '--log', path.join(dir, 'missing.log'), '--end-mark', 'mkfs']],
    [
      'fsck output between its own',
      (img: string) => ['-v', '--log', LOG, '--replay', img, '--check', '1000', '--fsck', 'echo fsck; echo err >&2'],
    ],
  ])('%s: as in-process', (_, args) => {
    const { served, own } = both(args);
    expect(served).toEqual(own);
  });

  it("runs in the caller's folder, with its environment", () => {
    fs.copyFileSync(LOG, path.join(dir, 'rel.log'));
    // POSIXLY_CORRECT changes how getopt reads the arguments: options after a non-option are not options.
    const args = () => ['stray', '--find', '--log', 'rel.log', '--end-mark', 'mkfs'];
    const plain = both(args, { cwd: dir });
    expect(plain.served).toEqual(plain.own);
    expect(plain.served.stdout).toMatch(/^\d+@\d+\n$/);
    const posix = both(args, { cwd: dir, env: { POSIXLY_CORRECT: '1' } });
    expect(posix.served).toEqual(posix.own);
    expect(posix.served.stdout).not.toEqual(plain.served.stdout);
    const fsck = front(
      socket,
      [
        '--log',
        'rel.log',
        '--replay',
        zeroImage(dir, 'e.img', DEVICE),
        '--check',
        'fua',
        '--fsck',
        'echo "$MARKER"; exit 0',
        '--limit',
        '200',
      ],
      { cwd: dir, env: { MARKER: 'from-the-caller' } },
    );
    expect(fsck.stdout).toContain('from-the-caller');
    // The next call has the environment of its own caller, not what the last one left.
    const after = front(
      socket,
      [
        '--log',
        'rel.log',
        '--replay',
        zeroImage(dir, 'f.img', DEVICE),
        '--check',
        'fua',
        '--fsck',
        'echo "[$MARKER]"; exit 0',
        '--limit',
        '200',
      ],
      { cwd: dir },
    );
    expect(after.stdout).toContain('[]');
    expect(after.stdout).not.toContain('from-the-caller');
    expect(server.log()).not.toMatch(/refused/);
  });

  it.skipIf(!haveLoop)('replays onto a loop device as in-process', () => {
    const file = path.join(dir, 'loop.img');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, DEVICE);
    const dev = spawnSync('losetup', ['--find', '--show', file], { encoding: 'utf8' }).stdout.trim();
    try {
      const hashes = [{}, OFF].map((env) => {
        spawnSync('blkdiscard', [dev]);
        const r = front(socket, ['-vv', '--log', LOG, '--replay', dev, '--limit', '3000'], { env });
        expect(r.status).toBe(0);
        return { stdout: r.stdout, bytes: sha256File(dev) };
      });
      expect(hashes[0]).toEqual(hashes[1]);
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
  });
  if (!haveLoop)
    it.skip(`skipped: no loop device here (${root ? 'losetup or /dev/loop-control missing' : 'needs root'})`, () => {});

  it('refuses a second server on its socket, and a file that is not a socket', () => {
    const second = spawnSync(process.execPath, [CLI, 'replay-log-server', '--socket', socket], { encoding: 'utf8' });
    expect(second.status).toBe(1);
    expect(second.stderr).toBe(`logwrites: cannot listen on ${socket}: another replay-log server listens there\n`);
    const file = path.join(dir, 'run', 'not-a-socket');
    fs.writeFileSync(file, 'keep me');
    const r = spawnSync(process.execPath, [CLI, 'replay-log-server', '--socket', file], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a file that is not a socket is there/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });
});

describe.skipIf(!!missing)('a replay-log server that must not serve', () => {
  it('of another build: the call runs in-process and the server stops', async () => {
    // The same bundle with another build id: what an older server left running looks like.
    const other = path.join(dir, 'other-build');
    fs.mkdirSync(other, { recursive: true });
    // The CLI is dist/cli.cjs and its bundle (a cache of the bundle's would be refused for other source).
    const files = ['cli.cjs', 'cli-main.cjs'];
    const texts = files.map((f) => fs.readFileSync(path.join(path.dirname(CLI), f), 'utf8'));
    const id = buildIdOf(texts.join('\n'));
    files.forEach((f, i) =>
      fs.writeFileSync(path.join(other, f), texts[i]!.replaceAll(id, '00000000-0000-4000-8000-000000000000')),
    );
    fs.copyFileSync(path.join(path.dirname(CLI), 'native.node'), path.join(other, 'native.node'));
    const socket = path.join(dir, 'stale', 'replay-log.sock');
    const server = await startServer(socket, [], path.join(other, 'cli.cjs'));
    const r = front(socket, ['--find', '--log', LOG, '--end-mark', 'mkfs']);
    expect(r).toEqual(
      front(socket, ['--find', '--log', LOG, '--end-mark', 'mkfs'], { env: { LOGWRITES_SERVER: 'off' } }),
    );
    expect(await server.exited).toBe(0);
    expect(server.log()).toMatch(/refused a client of build [0-9a-f-]+, not this server's 00000000-.*: stopping/);
  });

  it.skipIf(!root)('of another user: the front does not hand it its fds', async (ctx) => {
    const runDir = path.join(dir, 'foreign');
    const socket = path.join(runDir, 'replay-log.sock');
    const server = await startServer(socket);
    try {
      // Open to all, so that only the front's own check stands between another user and root's server.
      fs.chmodSync(dir, 0o755);
      fs.chmodSync(runDir, 0o755);
      fs.chmodSync(socket, 0o666);
      const log = path.join(dir, 'foreign.log');
      fs.copyFileSync(LOG, log);
      fs.chmodSync(log, 0o644);
      const r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', FRONT, '--find', '--log', log, '--end-mark', 'mkfs'],
        {
          encoding: 'utf8',
          env: { ...process.env, LOGWRITES_REPLAY_LOG_SOCKET: socket, LOGWRITES_CACHE: 'off' },
        },
      );
      if (r.error || /setpriv:/.test(r.stderr))
        return ctx.skip(`setpriv cannot run the front as nobody here (${r.stderr || r.error})`);
      expect(r.stderr).toContain(`the server at ${socket} is not our user's; running without it`);
      expect(r.stdout).toMatch(/^\d+@\d+\n$/);
      expect(server.log()).not.toMatch(/after \d+ calls|went away/);
    } finally {
      await server.stop();
    }
  });

  it("a client that goes away mid-call: its replay stops there, as the call's process would have", async () => {
    const socket = path.join(dir, 'abandon', 'replay-log.sock');
    const server = await startServer(socket);
    try {
      // Calls wait for the warm-up, which takes over 500 ms on a loaded machine: the first
      // call must be running, not queued, when its client goes away.
      await expect.poll(() => server.log(), { timeout: 10_000 }).toMatch(/warmed up in/);
      const img = zeroImage(dir, 'abandon.img', DEVICE);
      // A checker after every entry: 5212 of them take minutes.
      const args = ['--log', LOG, '--replay', img, '--check', '1', '--fsck', 'sleep 0.02'];
      const env = { ...process.env, LOGWRITES_REPLAY_LOG_SOCKET: socket };
      const client = spawn(FRONT, args, { env, stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 300));
      // A second call queued behind it, whose client gives up before its turn: it never runs.
      const queued = spawn(FRONT, ['--log', LOG, '--replay', img, '--limit', '10'], { env, stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
      queued.kill('SIGKILL');
      client.kill('SIGKILL');
      await expect
        .poll(() => server.log())
        .toMatch(/a client went away during its call \(.*--fsck sleep 0.02\): the call stopped there/);
      await expect
        .poll(() => server.log())
        .toMatch(/refused a call whose client went away before its turn \(.*--limit 10\)/);
      // The server goes on serving.
      expect(front(socket, ['--log', LOG, '--num-entries']).stdout).toBe('5212\n');
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(!!missing)('LOGWRITES_SERVER=auto', () => {
  it('the first call runs in-process and starts a server, detached, in /, that serves the next', async () => {
    const socket = path.join(dir, 'auto', 'replay-log.sock');
    const env = { LOGWRITES_SERVER: 'auto' };
    const args = ['--find', '--log', LOG, '--end-mark', 'mkfs'];
    const own = front(socket, args, { env: { LOGWRITES_SERVER: 'off' } });
    expect(front(socket, args, { env })).toEqual(own);
    await expect.poll(() => fs.existsSync(socket)).toBe(true);
    const pid = serverFor(socket);
    try {
      expect(fs.readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
      // Its own session: no signal to the caller's process group reaches it.
      expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]).toBe(String(pid));
      expect(front(socket, args, { env })).toEqual(own);
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('--idle');
    } finally {
      process.kill(pid, 'SIGTERM');
    }
    await expect.poll(() => fs.existsSync(socket)).toBe(false);
  });
});

/** The pid of the replay-log server whose environment names `socket`. */
function serverFor(socket: string): number {
  for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('replay-log-server') && fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(socket))
        return Number(p);
    } catch {
      // Gone, or not ours to read.
    }
  }
  throw new Error(`no replay-log server for ${socket}`);
}

if (missing) it.skip(`skipped: the replay-log server is not tested (${missing})`, () => {});

/** The build id build.mjs put into the bundle (a random UUID, once). */
function buildIdOf(bundle: string): string {
  const ids = new Set(
    [...bundle.matchAll(/"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"/g)].map((m) => m[1]!),
  );
  expect(ids.size).toBe(1);
  return [...ids][0]!;
}
