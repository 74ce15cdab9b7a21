// Kernel-written fixture logs, inflated once per machine into a temporary folder.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const KERNEL_FIXTURES = ['ext4-512', 'xfs-4k', 'btrfs-512', 'ext4-fsync-many'] as const;
export type KernelFixture = (typeof KERNEL_FIXTURES)[number];

export interface Manifest {
  sectorsize: number;
  device_size: number;
  nr_entries: number;
  flag_counts: Record<string, number>;
  marks_in_log: string[];
  marks: { name: string; files: Record<string, string>; status: string }[];
  final_device_sha256: string;
  status_final_before_remove: string;
}

export function manifest(name: KernelFixture): Manifest {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/kernel', name, 'manifest.json'), 'utf8'));
}

/** Path of the inflated log (read-only; copy it before changing it). */
export function kernelLog(name: KernelFixture): string {
  const dir = path.join(os.tmpdir(), 'logwrites-fixtures');
  const out = path.join(dir, `${name}.log`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(dir, { recursive: true });
    const gz = fs.readFileSync(path.join(ROOT, 'test/fixtures/kernel', name, 'log.img.gz'));
    const tmp = `${out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, zlib.gunzipSync(gz));
    fs.renameSync(tmp, out);
  }
  return out;
}

/** A fresh scratch directory for one test file, removed by the caller's afterAll. */
export function scratchDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `logwrites-${tag}-`));
}

/** A zero-filled (sparse) image of `size` bytes. */
export function zeroImage(dir: string, name: string, size: number): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, '');
  fs.truncateSync(p, size);
  return p;
}

export function sha256File(p: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(p, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}
