// Logs larger than memory: the CLI streams, so a log several times the heap limit is fine.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT, scratchDir, zeroImage } from './support/fixtures.ts';
import { generateLog } from './support/generate.ts';

const dir = scratchDir('memory');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const HEAP_MB = 48;
const LOG_MB = 320;

/** Peak resident memory (KiB) and the result of a CLI run under a small heap. */
function run(...args: string[]) {
  const r = spawnSync(
    '/usr/bin/time',
    ['-f', '%M', process.execPath, `--max-old-space-size=${HEAP_MB}`, path.join(ROOT, 'bin/logwrites.js'), ...args],
    { encoding: 'utf8' },
  );
  const rssKiB = Number(r.stderr.trim().split('\n').at(-1));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, rssMiB: rssKiB / 1024 };
}

it.skipIf(!fs.existsSync('/usr/bin/time'))(
  `info, list and both replay plans stay small on a ${LOG_MB} MiB log under a ${HEAP_MB} MiB heap`,
  () => {
    const log = path.join(dir, 'big.log');
    const writes = (LOG_MB << 20) / (64 << 10);
    // 64 KiB writes cycling over a 64 MiB device: every sector rewritten ~5 times.
    generateLog(log, {
      sectorSize: 512,
      writes,
      writeBytes: 64 << 10,
      sectorOf: (i) => (i % 1024) * 128,
      flushEvery: 16,
      markEvery: 1000,
    });
    expect(fs.statSync(log).size).toBeGreaterThan((LOG_MB - 1) << 20);
    const info = run('info', log, '--json');
    expect(info.status, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout).entries).toBeGreaterThan(writes);
    const list = run('list', log, '--json');
    expect(list.status).toBe(0);
    for (const plan of ['sequential', 'last-write']) {
      const img = zeroImage(dir, `${plan}.img`, 64 << 20);
      const r = run('replay', log, img, '--plan', plan, '--json');
      expect(r.status, r.stderr).toBe(0);
      expect(r.rssMiB, `${plan} peak RSS`).toBeLessThan(LOG_MB / 2);
      fs.rmSync(img);
    }
    expect(info.rssMiB).toBeLessThan(LOG_MB / 2);
  },
);
