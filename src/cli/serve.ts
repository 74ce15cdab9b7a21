// `logwrites serve`, `logwrites mark`, `logwrites status`: the NBD log-writes target and its
// `dmsetup message` / `dmsetup status` counterparts.

import type { Command } from 'commander';
import { controlRequest } from '../node/serve/control.ts';
import { startServer, type ServeOptions } from '../node/serve/lifecycle.ts';
import { nextStopSignal } from '../node/io/signals.ts';
import { bytesText, parseSize as sizeOf } from '../units.ts';
import { ServeError } from '../errors.ts';

/** `64M`, `1G`, `4096`: binary multiples, as the sizes of dd and qemu-img. */
export function parseSize(text: string): number {
  const n = sizeOf(text) ?? NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new ServeError(`bad size '${text}' (want a number with an optional K, M, G or T suffix)`);
  return n;
}

function parseSectorSize(text: string): number {
  if (text !== '512' && text !== '4096') throw new ServeError(`--sectorsize must be 512 or 4096, not '${text}'`);
  return Number(text);
}

/**
 * libuv's default of 4 threads is too few once background syncs hold two of them while data
 * and log writes queue behind; it must be set before the first asynchronous file operation.
 */
export const SERVE_THREADS = '8';

async function serve(o: Record<string, string | boolean | undefined>): Promise<void> {
  process.env['UV_THREADPOOL_SIZE'] ??= SERVE_THREADS;
  const opts: ServeOptions = {
    dev: o['dev'] as string,
    log: o['log'] as string,
    socket: o['socket'] as string | undefined,
    listen: o['listen'] as string | undefined,
    exportName: o['export'] as string | undefined,
    sectorSize: o['sectorsize'] === undefined ? undefined : parseSectorSize(o['sectorsize'] as string),
    size: o['size'] === undefined ? undefined : parseSize(o['size'] as string),
    append: !!o['append'],
    logSize: o['logSize'] === undefined ? undefined : parseSize(o['logSize'] as string),
    onLogFull: o['onLogFull'] === 'fail' ? 'fail' : 'disable',
    control: o['control'] as string | undefined,
    force: !!o['force'],
  };
  if (o['onLogFull'] !== undefined && o['onLogFull'] !== 'fail' && o['onLogFull'] !== 'disable') {
    throw new ServeError(`--on-log-full must be 'disable' or 'fail', not '${o['onLogFull']}'`);
  }
  const server = await startServer(opts);
  const e = server.export;
  process.stdout.write(`serving ${opts.dev} (${bytesText(e.size)}, sectorsize ${e.blockSize}) at ${server.uri}\n`);
  process.stdout.write(`control socket ${server.controlPath}\n`);
  await nextStopSignal();
  await server.stop();
  process.stdout.write(`stopped; log closed with status ${server.status()}\n`);
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a data device over NBD, logging its writes like dm-log-writes')
    .requiredOption('--dev <path>', 'data device or image file (created with --size when missing)')
    .requiredOption('--log <path>', 'log file or device')
    .option('--socket <path>', 'listen on this Unix socket')
    .option('--listen <host:port>', 'listen on TCP (loopback unless you say otherwise)')
    .option('--export <name>', 'export name', '')
    .option('--sectorsize <bytes>', 'log sectorsize: 512 or 4096', undefined)
    .option('--size <bytes>', 'size of a data image to create (K, M, G, T suffixes)')
    .option('--append', 'continue an existing log after its last entry')
    .option(
      '--force',
      'start an existing log over, and serve files the safety checks refuse (mounted, the log, held by another serve)',
    )
    .option('--log-size <bytes>', 'room the log may use')
    .option('--on-log-full <what>', "'disable' (stop logging, like the kernel) or 'fail' (refuse writes)", 'disable')
    .option('--control <path>', 'control socket (default: <log>.control)')
    .addHelpText(
      'after',
      `
Example (the kernel documentation's recipe, without device-mapper):
  $ logwrites serve --dev data.img --log log.img --size 1G --socket /tmp/lw.sock &
  $ mkdir -p /tmp/lw && nbdfuse /tmp/lw 'nbd+unix:///?socket=/tmp/lw.sock' &
  $ losetup -f --show /tmp/lw/nbd && mkfs.ext4 /dev/loopN
  $ logwrites mark mkfs --control log.img.control
  $ umount /mnt; losetup -d /dev/loopN; fusermount3 -u /tmp/lw; kill -INT %1
The loop device turns FUA into write + flush: check such logs at flushes (--check flush).
SIGINT or SIGTERM finishes requests in flight, logs the end mark and exits 0.`,
    )
    .action(serve);
  program
    .command('mark')
    .description('log a mark in a running server (dmsetup message <dev> 0 mark <name>)')
    .argument('<name>', 'mark text')
    .requiredOption('--control <path>', "the server's control socket")
    .addHelpText('after', '\nExample:\n  $ logwrites mark fsync --control log.img.control')
    .action(async (name: string, o: { control: string }) => void (await controlRequest(o.control, `mark ${name}`)));
  program
    .command('status')
    .description('print <#logged entries> <highest allocated sector> of a running server (dmsetup status)')
    .requiredOption('--control <path>', "the server's control socket")
    .addHelpText('after', '\nExample:\n  $ logwrites status --control log.img.control\n  282 16157')
    .action(
      async (o: { control: string }) => void process.stdout.write(`${await controlRequest(o.control, 'status')}\n`),
    );
}
