// The seed's own recipe on logs the kernel wrote: replay to each mark with replay-log, check
// the file system with its own checker, mount it and compare every file's md5 with what the
// kernel side recorded at that mark.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KERNEL_FIXTURES, kernelLog, manifest, scratchDir, zeroImage, type KernelFixture } from './support/fixtures.ts';
import { replayLog } from './support/run.ts';

const dir = scratchDir('kernel-fs');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sh = (cmd: string) => spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });
const have = (tool: string) => sh(`command -v ${tool}`).status === 0;

/** Can this machine loop-mount an image? (root, loop devices, a kernel that lets us) */
const canMount = (() => {
  if (process.getuid?.() !== 0 || !fs.existsSync('/dev/loop-control') || !have('mkfs.ext4')) return false;
  const img = zeroImage(dir, 'probe.img', 8 << 20);
  const mnt = fs.mkdtempSync(path.join(dir, 'probe-'));
  const ok = sh(`mkfs.ext4 -q ${img} && mount -o loop ${img} ${mnt} && umount ${mnt}`).status === 0;
  fs.rmSync(img);
  return ok;
})();

const FS: Record<KernelFixture, { type: string; tool: string; check: (img: string) => string }> = {
  'ext4-512': { type: 'ext4', tool: 'e2fsck', check: (img) => `e2fsck -fn ${img}` },
  'ext4-fsync-many': { type: 'ext4', tool: 'e2fsck', check: (img) => `e2fsck -fn ${img}` },
  'btrfs-512': { type: 'btrfs', tool: 'btrfs', check: (img) => `btrfs check --readonly ${img}` },
  // xfs leaves its log dirty at a mark: mounting replays it, then xfs_repair -n checks.
  'xfs-4k': { type: 'xfs', tool: 'xfs_repair', check: (img) => `xfs_repair -n ${img}` },
};

function md5Files(root: string, files: string[]): Record<string, string | null> {
  return Object.fromEntries(
    files.map((f) => {
      const p = path.join(root, f);
      return [f, fs.existsSync(p) ? crypto.createHash('md5').update(fs.readFileSync(p)).digest('hex') : null];
    }),
  );
}

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const m = manifest(name);
  const fsInfo = FS[name];
  const marks = name === 'ext4-fsync-many' ? m.marks.filter((_, i) => i % 5 === 0) : m.marks;
  const why = !have(fsInfo.tool)
    ? `${fsInfo.tool} is not installed`
    : !canMount
      ? 'this machine cannot loop-mount images (needs root and loop devices)'
      : '';

  it.skipIf(why !== '')(
    `each mark checks clean and holds the kernel's files${why ? ` (skipped: ${why})` : ''}`,
    async () => {
      const log = kernelLog(name);
      const img = zeroImage(dir, `${name}.img`, m.device_size);
      const mnt = fs.mkdtempSync(path.join(dir, `${name}-mnt-`));
      for (const mark of marks) {
        const r = await replayLog('--log', log, '--replay', img, '--end-mark', mark.name);
        expect(r.status, r.stderr).toBe(0);
        const work = path.join(dir, `${name}-work.img`);
        fs.copyFileSync(img, work);
        if (fsInfo.type === 'ext4' || fsInfo.type === 'btrfs') {
          const c = sh(fsInfo.check(work));
          expect(c.status, `${fsInfo.check(work)} at mark ${mark.name}:\n${c.stdout}${c.stderr}`).toBe(0);
        }
        expect(sh(`mount -t ${fsInfo.type} -o loop ${work} ${mnt}`).status, `mount at ${mark.name}`).toBe(0);
        let sums: Record<string, string | null>;
        try {
          sums = md5Files(mnt, Object.keys(mark.files));
        } finally {
          sh(`umount ${mnt}`);
        }
        expect(sums, `files at mark ${mark.name}`).toEqual(mark.files);
        if (fsInfo.type === 'xfs') {
          const c = sh(fsInfo.check(work));
          expect(c.status, `${fsInfo.check(work)} at mark ${mark.name}:\n${c.stdout}${c.stderr}`).toBe(0);
        }
        fs.rmSync(work);
      }
    },
  );
});
