// Logs written by a second, independent producer: QEMU's blklogwrites driver, driven by
// qemu-io. Replaying them must give back QEMU's data image byte for byte.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { replayLog } from './support/run.ts';

const dir = scratchDir('qemu');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const haveQemu = spawnSync('/bin/sh', ['-c', 'command -v qemu-io && command -v qemu-img']).status === 0;

const SIZE = 32 << 20;

/** A workload with overlaps, zero writes, discards and flushes, scaled to the sector size. */
function workload(S: number): string[] {
  const cmds: string[] = [];
  for (let i = 0; i < 40; i++) {
    const off = ((i * 7919) % 4000) * S;
    cmds.push(`write -P ${(i % 250) + 1} ${off} ${((i % 5) + 1) * S}`);
    if (i % 9 === 0) cmds.push('flush');
  }
  cmds.push(`write -P 0xaa 0 ${64 * S}`, `write -z ${8 * S} ${16 * S}`, `discard ${32 * S} ${8 * S}`, 'flush');
  cmds.push(
    `write -P 0xbb ${1000 * S} ${128 * S}`,
    `write -P 0xcc ${1064 * S} ${4 * S}`,
    `discard ${1100 * S} ${16 * S}`,
  );
  return cmds;
}

describe.skipIf(!haveQemu).each([512, 4096])(
  `QEMU blklogwrites log, sectorsize %i${haveQemu ? '' : ' (skipped: qemu-io is not installed)'}`,
  (S) => {
    it("replays to QEMU's data image byte for byte, by replay-log and by both logwrites plans", async () => {
      const data = path.join(dir, `data-${S}.img`);
      const log = path.join(dir, `log-${S}.img`);
      expect(spawnSync('qemu-img', ['create', '-f', 'raw', data, String(SIZE)]).status).toBe(0);
      fs.writeFileSync(log, '');
      const args = [
        '--image-opts',
        `driver=blklogwrites,file.filename=${data},log.filename=${log},log-sector-size=${S}`,
      ];
      for (const c of workload(S)) args.push('-c', c);
      const q = spawnSync('qemu-io', args, { encoding: 'utf8' });
      expect(q.status, q.stderr).toBe(0);
      const want = sha256File(data);

      const viaReplayLog = zeroImage(dir, `a-${S}.img`, SIZE);
      expect((await replayLog('--log', log, '--replay', viaReplayLog)).status).toBe(0);
      expect(sha256File(viaReplayLog)).toBe(want);
      for (const plan of ['last-write', 'sequential']) {
        const img = zeroImage(dir, `${plan}-${S}.img`, SIZE);
        const r = spawnSync(
          process.execPath,
          [path.join(ROOT, 'bin/logwrites.js'), 'replay', log, img, '--plan', plan],
          { encoding: 'utf8' },
        );
        expect(r.status, r.stderr).toBe(0);
        expect(sha256File(img), plan).toBe(want);
      }
    });
  },
);
