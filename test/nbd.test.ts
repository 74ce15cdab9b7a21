import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { END_MARK, Flag, flagNames } from '../src/format.ts';
import { LogReader, type Entry } from '../src/reader.ts';
import { replay } from '../src/replay/loop.ts';
import { openSource } from '../src/node/io/file.ts';
import { openTarget } from '../src/node/io/target.ts';
import { ROOT, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { RawNbd } from './support/nbd-client.ts';
import { Cmd, CmdFlag, Errno, Info, Opt, Rep } from '../src/node/nbd/protocol.ts';
import { hasCommand, logwrites, run, serveCli, startServe, type ServeProcess } from './support/serve-process.ts';

const { EINVAL } = Errno;
const MiB = 1 << 20;
let dir: string;
let servers: ServeProcess[] = [];

beforeAll(async () => {
  dir = scratchDir('nbd');
  await serveCli();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh case folder with a server on data.img / log.img / nbd.sock. */
async function serveIn(
  name: string,
  extra: string[] = [],
): Promise<{ cwd: string; server: ServeProcess; sock: string }> {
  const cwd = path.join(dir, name);
  fs.mkdirSync(cwd);
  const server = await startServe(['--dev', 'data.img', '--log', 'log.img', '--socket', 'nbd.sock', ...extra], cwd);
  servers.push(server);
  return { cwd, server, sock: path.join(cwd, 'nbd.sock') };
}

async function stopped(server: ServeProcess): Promise<void> {
  expect(await server.stop()).toBe(0);
  servers = servers.filter((s) => s !== server);
}

async function logEntries(log: string, pastEnd = false): Promise<Entry[]> {
  const src = openSource(log);
  try {
    const r = await LogReader.open(src);
    const out: Entry[] = [];
    for await (const e of r.entries({ checkPadding: true, pastEnd })) out.push(e);
    return out;
  } finally {
    src.close();
  }
}

/** Replay all of `log` onto a zero image the size of `data` with our own replay; true when they match. */
async function replayMatches(cwd: string): Promise<boolean> {
  const data = path.join(cwd, 'data.img');
  const copy = zeroImage(cwd, 'copy.img', fs.statSync(data).size);
  const src = openSource(path.join(cwd, 'log.img'));
  const target = openTarget(copy);
  try {
    await replay(await LogReader.open(src), target);
  } finally {
    target.close();
    src.close();
  }
  const same = sha256File(copy) === sha256File(data);
  fs.rmSync(copy);
  return same;
}

const kinds = (es: Entry[]) =>
  es.map((e) => (e.mark ?? flagNames(e.flags)) + (e.nrSectors ? `@${e.sector}+${e.nrSectors}` : ''));

describe.skipIf(!hasCommand('qemu-io'))('logwrites serve with qemu-io', () => {
  for (const S of [512, 4096]) {
    it(`write, write -f, write -z, discard, flush and read at sectorsize ${S}; the log replays to data.img`, async () => {
      const { cwd, server, sock } = await serveIn(`qemu-io-${S}`, ['--size', '16M', '--sectorsize', String(S)]);
      const uri = `nbd+unix:///?socket=${sock}`;
      const out = await run('qemu-io', [
        '-f',
        'raw',
        '-t',
        'writeback',
        uri,
        '-c',
        'write -P 0x11 0 64k',
        '-c',
        'write -f -P 0x22 1M 8k',
        '-c',
        'write -z 64k 32k',
        '-c',
        'discard 8k 8k',
        '-c',
        'flush',
        '-c',
        'write -P 0x33 2M 4k',
        '-c',
        'read -P 0x11 0 8k',
        '-c',
        'read -P 0 8k 8k',
        '-c',
        'read -P 0x22 1M 8k',
        '-c',
        'read -P 0 64k 32k',
        '-c',
        'read -v 2M 16',
      ]);
      expect(out).not.toMatch(/fail|error/i);
      expect(out).toContain('00200000:  33 33 33 33');
      const status = (await logwrites('status', '--control', server.control)).trim();
      await logwrites('mark', 'done', '--control', server.control);
      await stopped(server);
      const es = await logEntries(path.join(cwd, 'log.img'));
      const k = kinds(es);
      const sec = (bytes: number) => bytes / S;
      // The FUA write went in on completion, before the flush logged the earlier writes.
      expect(k[0]).toBe(`FUA@${sec(MiB)}+${sec(8192)}`);
      expect(k.slice(1, 5)).toEqual([
        `NONE@0+${sec(65536)}`,
        `NONE@${sec(65536)}+${sec(32768)}`,
        `DISCARD@${sec(8192)}+${sec(8192)}`,
        'FLUSH',
      ]);
      // qemu-io's own closing flush logs the last write; then our mark and the end mark.
      expect(k).toContain(`NONE@${sec(2 * MiB)}+${sec(4096)}`);
      expect(k.slice(-2)).toEqual(['done', END_MARK]);
      expect(status.split(' ').length).toBe(2);
      expect(await replayMatches(cwd)).toBe(true);
    });
  }
});

describe('logwrites serve, protocol edges', () => {
  it('answers NBD_OPT_LIST, NBD_OPT_INFO, unknown options and NBD_OPT_ABORT', async () => {
    const { server, sock } = await serveIn('options', ['--size', '1M', '--export', 'disk']);
    const c = await RawNbd.connect(sock);
    const list = await c.option(Opt.LIST);
    expect(list.map((r) => r.type)).toEqual([Rep.SERVER, Rep.ACK]);
    expect(list[0]!.data.subarray(4).toString()).toBe('disk');
    expect((await c.option(Opt.LIST, Buffer.from([1])))[0]!.type).toBe(Rep.ERR_INVALID);
    expect((await c.option(99))[0]!.type).toBe(Rep.ERR_UNSUP);
    expect((await c.option(Opt.STRUCTURED_REPLY))[0]!.type).toBe(Rep.ERR_UNSUP); // no structured replies: simple ones only
    const info = Buffer.alloc(4 + 4 + 2);
    info.writeUInt32BE(4, 0);
    info.write('disk', 4);
    const infos = await c.option(Opt.INFO, info);
    expect(infos[infos.length - 1]!.type).toBe(Rep.ACK);
    const exp = infos.find((r) => r.type === Rep.INFO && r.data.readUInt16BE(0) === Info.EXPORT)!;
    expect(Number(exp.data.readBigUInt64BE(2))).toBe(MiB);
    expect(exp.data.readUInt16BE(10)).toBe(1 | 4 | 8 | 32 | 64);
    info.write('nope', 4);
    expect((await c.option(Opt.INFO, info))[0]!.type).toBe(Rep.ERR_UNKNOWN);
    expect((await c.option(Opt.ABORT))[0]!.type).toBe(Rep.ACK);
    expect(await c.closedByServer()).toBe(true);
    await stopped(server);
  });

  it('refuses misaligned, out-of-range and unknown requests with EINVAL and keeps serving', async () => {
    const { cwd, server, sock } = await serveIn('einval', ['--size', '1M', '--sectorsize', '4096']);
    const c = await RawNbd.connect(sock);
    await c.go();
    expect(c.size).toBe(MiB);
    const replies = await Promise.all([
      c.request(Cmd.WRITE, 512, 4096, { data: Buffer.alloc(4096, 1) }),
      c.request(Cmd.WRITE, 0, 1000, { data: Buffer.alloc(1000, 1) }),
      c.request(Cmd.READ, MiB - 4096, 8192),
      c.request(Cmd.TRIM, MiB, 4096),
      c.request(Cmd.WRITE_ZEROES, 2 * MiB, 4096),
      c.request(Cmd.READ, 0, 0),
      c.request(42, 0, 4096),
      c.request(Cmd.WRITE, 0, 64 << 20, { data: Buffer.alloc(64 << 20) }),
      c.request(Cmd.WRITE, 8192, 4096, { data: Buffer.alloc(4096, 7), flags: CmdFlag.FUA }),
    ]);
    expect(replies.slice(0, 8).map((r) => r.error)).toEqual(Array(8).fill(EINVAL));
    expect(replies[8]!.error).toBe(0);
    // Requests in flight together have no order (proto.md): read back only after the reply.
    expect((await c.request(Cmd.READ, 8192, 4096)).data!.every((b) => b === 7)).toBe(true);
    c.disconnect();
    await stopped(server);
    expect(kinds(await logEntries(path.join(cwd, 'log.img')))).toEqual(['FUA@2+1', END_MARK]);
  });

  it('serves several clients with pipelined requests into one log, flushes covering what completed', async () => {
    const { cwd, server, sock } = await serveIn('clients', ['--size', '4M']);
    const clients = await Promise.all([0, 1, 2].map(() => RawNbd.connect(sock)));
    await Promise.all(clients.map((c) => c.go()));
    const writes = clients.flatMap((c, i) =>
      Array.from({ length: 16 }, (_, j) =>
        c.request(Cmd.WRITE, (i * 16 + j) * 65536, 65536, { data: Buffer.alloc(65536, i * 16 + j + 1) }),
      ),
    );
    expect((await Promise.all(writes)).every((r) => r.error === 0)).toBe(true);
    expect((await clients[1]!.request(Cmd.FLUSH, 0, 0)).error).toBe(0);
    const es = await logEntries(path.join(cwd, 'log.img'));
    // Every write completed before the flush was issued, so the flush logged all 48, then itself.
    expect(es.length).toBe(49);
    expect(kinds(es).at(-1)).toBe('FLUSH');
    expect(new Set(es.slice(0, 48).map((e) => e.sector)).size).toBe(48);
    for (const c of clients) c.disconnect();
    await stopped(server);
    expect(await replayMatches(cwd)).toBe(true);
  });

  it('status and mark over the control socket match the kernel arithmetic; --append continues a log', async () => {
    const { cwd, server } = await serveIn('control', ['--size', '1M']);
    expect((await logwrites('status', '--control', server.control)).trim()).toBe('0 0');
    await logwrites('mark', 'one', '--control', server.control);
    expect((await logwrites('status', '--control', server.control)).trim()).toBe('1 1');
    await stopped(server);
    const again = await startServe(['--dev', 'data.img', '--log', 'log.img', '--socket', 'nbd.sock', '--append'], cwd);
    servers.push(again);
    expect((await logwrites('status', '--control', again.control)).trim()).toBe('2 2');
    await stopped(again);
    expect(kinds(await logEntries(path.join(cwd, 'log.img')))).toEqual(['one', END_MARK, END_MARK]);
    await expect(logwrites('status', '--control', again.control)).rejects.toThrow(/cannot reach/);
  });

  it('with --log-size and --on-log-full fail refuses writes with ENOSPC; by default it stops logging like the kernel', async () => {
    const { server, sock } = await serveIn('full-fail', ['--size', '1M', '--log-size', '64K', '--on-log-full', 'fail']);
    const c = await RawNbd.connect(sock);
    await c.go();
    const errors = [];
    for (let i = 0; i < 4; i++)
      errors.push((await c.request(Cmd.WRITE, i * 32768, 32768, { data: Buffer.alloc(32768, 1) })).error);
    expect(errors).toEqual([0, 28, 28, 28]);
    c.disconnect();
    await stopped(server);

    const d = await serveIn('full-disable', ['--size', '1M', '--log-size', '64K']);
    const c2 = await RawNbd.connect(d.sock);
    await c2.go();
    for (let i = 0; i < 4; i++)
      expect(
        (await c2.request(Cmd.WRITE, i * 32768, 32768, { data: Buffer.alloc(32768, 1), flags: CmdFlag.FUA })).error,
      ).toBe(0);
    expect((await logwrites('status', '--control', d.server.control)).trim()).toBe('1 130 logging_disabled');
    c2.disconnect();
    await stopped(d.server);
  });
});

describe.skipIf(!hasCommand('nbdinfo') || !hasCommand('nbdcopy'))('logwrites serve with libnbd tools', () => {
  it('nbdinfo shows the export and its flags', async () => {
    const { server, sock } = await serveIn('nbdinfo', ['--size', '8M', '--export', 'logged']);
    const info = JSON.parse(await run('nbdinfo', ['--json', `nbd+unix:///logged?socket=${sock}`]));
    const e = info.exports[0];
    expect(e['export-name']).toBe('logged');
    expect(e['export-size']).toBe(8 * MiB);
    expect([e.can_flush, e.can_fua, e.can_trim, e.can_zero, e.is_read_only]).toEqual([true, true, true, true, false]);
    expect(e.block_size_minimum).toBe(512);
    expect(await run('nbdinfo', ['--list', `nbd+unix:///?socket=${sock}`])).toContain('export="logged"');
    await stopped(server);
  });

  it('nbdcopy writes 256 MiB; the replayed log equals data.img and the source', async () => {
    const { cwd, server, sock } = await serveIn('nbdcopy', ['--size', '256M']);
    const src = path.join(cwd, 'src.bin');
    const fd = fs.openSync(src, 'w');
    for (let i = 0; i < 256; i++) fs.writeSync(fd, crypto.randomBytes(MiB));
    fs.closeSync(fd);
    await run('nbdcopy', ['--flush', src, `nbd+unix:///?socket=${sock}`]);
    await stopped(server);
    const es = await logEntries(path.join(cwd, 'log.img'));
    expect(es.filter((e) => e.flags & Flag.FLUSH).length).toBeGreaterThanOrEqual(1);
    expect(sha256File(path.join(cwd, 'data.img'))).toBe(sha256File(src));
    expect(await replayMatches(cwd)).toBe(true);
    fs.rmSync(cwd, { recursive: true });
  });
});

describe('logwrites serve, crash', () => {
  it('kill -9 mid-workload: the log opens cleanly and holds every write acknowledged before the last acknowledged flush', async () => {
    const { cwd, server, sock } = await serveIn('crash', ['--size', '16M']);
    const c = await RawNbd.connect(sock);
    await c.go();
    const acked: { offset: number; byte: number }[] = [];
    let coveredByFlush = 0;
    let stop = false;
    const workload = (async () => {
      for (let round = 0; round < 10_000 && !stop; round++) {
        const batch = Array.from({ length: 8 }, (_, j) => {
          const offset = ((round * 8 + j) % 256) * 65536;
          const byte = ((round * 8 + j) % 255) + 1;
          return c.request(Cmd.WRITE, offset, 65536, { data: Buffer.alloc(65536, byte) }).then((r) => {
            if (r.error === 0) acked.push({ offset, byte });
          });
        });
        await Promise.all(batch);
        const known = acked.length;
        const f = await Promise.race([c.request(Cmd.FLUSH, 0, 0), new Promise<undefined>((r) => setTimeout(r, 2000))]);
        if (!f || f.error) return;
        coveredByFlush = known;
      }
    })();
    let finished = false;
    void workload.finally(() => (finished = true));
    for (let i = 0; i < 3000 && coveredByFlush < 200 && !finished; i++) await new Promise((r) => setTimeout(r, 10));
    expect(coveredByFlush, server.stdout()).toBeGreaterThanOrEqual(200);
    await server.kill();
    servers = servers.filter((s) => s !== server);
    stop = true;
    await workload;
    const promised = acked.slice(0, coveredByFlush);
    const log = path.join(cwd, 'log.img');
    const es = await logEntries(log); // within nr_entries: must parse without error
    const src = openSource(log);
    const reader = await LogReader.open(src);
    const found = new Set<string>();
    for (const e of es) {
      if (!e.nrSectors || e.flags & Flag.DISCARD) continue;
      const first = (await reader.payloadBytes(e))[0];
      found.add(`${e.sector * 512}:${first}`);
    }
    src.close();
    const missing = promised.filter((w) => !found.has(`${w.offset}:${w.byte}`));
    expect(missing).toEqual([]);
  });
});

describe('logwrites serve: the seed example in userspace (nbdfuse, loop, ext4)', () => {
  const why = !hasCommand('nbdfuse')
    ? 'nbdfuse missing'
    : !fs.existsSync('/dev/fuse')
      ? '/dev/fuse missing'
      : !hasCommand('losetup')
        ? 'losetup missing'
        : !fs.existsSync('/dev/loop-control')
          ? 'no loop devices'
          : process.getuid?.() !== 0
            ? 'needs root for losetup and mount'
            : '';
  if (why) console.warn(`skipping the nbdfuse + loop + ext4 test: ${why}`);
  it.skipIf(!!why)(
    'mkfs, mark, mount, files, fsync, mark, umount; replay to the fsync mark gives a clean fs with the same files',
    async () => {
      const { cwd, server, sock } = await serveIn('seed', ['--size', '64M']);
      const fuse = path.join(cwd, 'fuse');
      const mnt = path.join(cwd, 'mnt');
      fs.mkdirSync(fuse);
      fs.mkdirSync(mnt);
      const fuser = (await import('node:child_process')).spawn('nbdfuse', [fuse, `nbd+unix:///?socket=${sock}`], {
        stdio: 'ignore',
      });
      let loop = '';
      const sums: Record<string, string> = {};
      try {
        for (let i = 0; i < 500 && !fs.existsSync(path.join(fuse, 'nbd')); i++)
          await new Promise((r) => setTimeout(r, 20));
        loop = (await run('losetup', ['-f', '--show', path.join(fuse, 'nbd')])).trim();
        await run('mkfs.ext4', ['-q', '-F', loop]);
        await logwrites('mark', 'mkfs', '--control', server.control);
        await run('mount', [loop, mnt]);
        fs.mkdirSync(path.join(mnt, 'd'));
        for (const [name, size] of [
          ['d/a', 200 * 1024],
          ['big', 3 * MiB],
          ['small', 10],
        ] as const) {
          const body = crypto.randomBytes(size);
          const fd = fs.openSync(path.join(mnt, name), 'w');
          fs.writeSync(fd, body);
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          sums[name] = crypto.createHash('md5').update(body).digest('hex');
        }
        await logwrites('mark', 'fsync', '--control', server.control);
        await run('umount', [mnt]);
      } finally {
        if (loop) await run('losetup', ['-d', loop]).catch(() => {});
        await run('fusermount3', ['-u', fuse]).catch(() => {});
        fuser.kill();
      }
      await stopped(server);
      zeroImage(cwd, 'copy.img', 64 * MiB);
      await run(
        process.execPath,
        [path.join(ROOT, 'bin/replay-log.js'), '--log', 'log.img', '--replay', 'copy.img', '--end-mark', 'fsync'],
        { cwd },
      );
      await run('e2fsck', ['-fn', path.join(cwd, 'copy.img')]);
      // Read-write, so ext4 replays its journal as it would after a power cut at the mark.
      await run('mount', ['-o', 'loop', path.join(cwd, 'copy.img'), mnt]);
      try {
        for (const [name, sum] of Object.entries(sums)) {
          expect(
            crypto
              .createHash('md5')
              .update(fs.readFileSync(path.join(mnt, name)))
              .digest('hex'),
          ).toBe(sum);
        }
      } finally {
        await run('umount', [mnt]);
      }
    },
  );
});
