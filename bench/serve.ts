// `node bench/run.mjs serve [MiB] [runs]`: nbdcopy of random data into
//   - logwrites serve (this project's log-writes target),
//   - qemu-nbd on a raw file (no logging: what NBD itself costs),
//   - qemu-nbd with driver=blklogwrites (QEMU's write logger, the closest peer),
// against dd with conv=fdatasync writing the same bytes (the disk's limit), all in one run.
// nbdcopy runs with --flush so every target ends durable, log included. Medians of `runs`.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SERVE_THREADS } from '../src/cli/serve.ts';
import { startServer } from '../src/node/serve/lifecycle.ts';

// As `logwrites serve` does; our server runs in this process.
process.env['UV_THREADPOOL_SIZE'] ??= SERVE_THREADS;

const MiB = 1 << 20;
const sizeMiB = Number(process.argv[2] ?? 1024);
const runs = Number(process.argv[3] ?? 3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logwrites-bench-serve-'));
const src = path.join(dir, 'src.bin');
const data = path.join(dir, 'data.img');
const log = path.join(dir, 'log.img');
const sock = path.join(dir, 'nbd.sock');

function need(cmd: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/serve needs ${cmd} (Debian: qemu-utils, libnbd-bin)`);
    process.exit(1);
  }
}

function fresh(): void {
  for (const p of [data, log, sock]) fs.rmSync(p, { force: true });
  fs.writeFileSync(data, '');
  fs.truncateSync(data, sizeMiB * MiB);
  fs.writeFileSync(log, '');
}

/** Asynchronous: our server runs in this process and must keep serving meanwhile. */
function nbdcopy(): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nbdcopy', ['--flush', src, `nbd+unix:///?socket=${sock}`], { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nbdcopy exited ${code}`))));
  });
}

async function waitFor(p: string): Promise<void> {
  for (let i = 0; i < 500 && !fs.existsSync(p); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Seconds for one nbdcopy into the target `start` brings up (teardown not timed). */
async function timed(start: () => Promise<() => Promise<void>>): Promise<number> {
  fresh();
  spawnSync('sync');
  const stop = await start();
  const t0 = performance.now();
  await nbdcopy();
  const t = (performance.now() - t0) / 1000;
  await stop();
  return t;
}

async function ours(): Promise<() => Promise<void>> {
  const server = await startServer({ dev: data, log, socket: sock, control: path.join(dir, 'control.sock') });
  return () => server.stop();
}

function qemuNbd(args: string[]) {
  return async (): Promise<() => Promise<void>> => {
    const p = spawn('qemu-nbd', ['--socket', sock, '--persistent', '--cache=writeback', ...args], { stdio: 'inherit' });
    await waitFor(sock);
    return async () => {
      const exited = new Promise((r) => p.on('exit', r));
      p.kill('SIGTERM');
      await exited;
    };
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  need('nbdcopy');
  need('qemu-nbd');
  const fd = fs.openSync(src, 'w');
  for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, crypto.randomBytes(MiB));
  fs.closeSync(fd);

  const targets: [string, () => Promise<number>][] = [
    [
      'dd conv=fdatasync (disk limit)',
      async () => {
        fresh();
        const t0 = performance.now();
        const r = spawnSync('dd', [`if=${src}`, `of=${data}`, 'bs=1M', 'conv=fdatasync,notrunc', 'status=none']);
        if (r.status !== 0) throw new Error('dd failed');
        return (performance.now() - t0) / 1000;
      },
    ],
    ['logwrites serve', () => timed(ours)],
    ['qemu-nbd raw (no log)', () => timed(qemuNbd(['--format=raw', data]))],
    [
      'qemu-nbd blklogwrites',
      () =>
        timed(
          qemuNbd([
            '--image-opts',
            `driver=blklogwrites,file.driver=file,file.filename=${data},log.driver=file,log.filename=${log},log-sector-size=512`,
          ]),
        ),
    ],
  ];
  const times = new Map<string, number[]>(targets.map(([n]) => [n, []]));
  for (let r = 0; r < runs; r++) {
    // Interleaved, so drift in the machine's speed hits every target alike.
    for (const [name, go] of targets) times.get(name)!.push(await go());
  }
  const mibs = new Map([...times].map(([n, ts]) => [n, sizeMiB / median(ts)]));
  const limit = mibs.get('dd conv=fdatasync (disk limit)')!;
  const peer = mibs.get('qemu-nbd blklogwrites')!;
  console.log(`nbdcopy --flush of ${sizeMiB} MiB random data, median of ${runs} runs:`);
  for (const [name, v] of mibs) {
    console.log(
      `  ${name.padEnd(32)} ${v.toFixed(0).padStart(6)} MiB/s   ${(v / limit).toFixed(2)}x disk limit   ${(v / peer).toFixed(2)}x blklogwrites`,
    );
  }
}

try {
  await main();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
