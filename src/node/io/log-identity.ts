// What tells one state of a log's bytes from any other without reading them, for the stored
// entry index (index-cache.ts): an index is used again only when the identity is the same,
// and no identity is given where a change could go unseen.
//
// - A regular file: device, inode, size, mtime and ctime in nanoseconds. A write, truncate or
//   rename-over changes ctime, which no user can set back. The kernel stamps times from a
//   coarse clock, so a write in the same tick as the read before it could leave the stamps as
//   they were: a file changed less than RACY_NS before we looked has no identity yet (git's
//   "racily clean" rule).
// - A block device: its number and disk sequence (which moves when a loop device gets a new
//   backing file or a disk new media), and the completed write and discard counts of every
//   device its bytes pass through (partition, parent disk, dm and md slaves, recursively; a
//   loop device's backing file by the file rule). Buffered writes still in the page cache
//   are not counted yet, so they are written out first; writes in flight give no identity.
//
// The log's super sector and its size are part of every identity as well.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { majorMinor, sysfsDeviceDir, sysfsRealpath } from './device-info.ts';
import { loadNative } from './native.ts';
import type { FileSource } from './file.ts';

/** Longer than any file system's timestamp granularity we meet (NFS, FAT: 2 s). */
const RACY_NS = 3_000_000_000n;

/** The identity of the log's bytes now, or undefined when none can be trusted. */
export function logIdentity(source: FileSource, superSector: Uint8Array, sys = '/sys'): string | undefined {
  const st = fs.fstatSync(source.fd, { bigint: true });
  let parts: string[] | undefined;
  if (st.isFile()) parts = fileParts(st);
  else if (st.isBlockDevice()) {
    writeBack(source.fd);
    parts = deviceParts(majorMinor(Number(st.rdev)), sys);
  }
  if (!parts) return undefined;
  return [...parts, `size ${source.size}`, `super ${Buffer.from(superSector).toString('hex')}`].join('\n');
}

/**
 * Write the device's dirty pages out, so that the write counters count them. sync_file_range
 * through the addon does only that; fdatasync would also flush the disk's cache, which costs a
 * real disk tens of milliseconds at every call.
 */
function writeBack(fd: number): void {
  const native = loadNative();
  if (!native || native.writeback(fd) !== 0) fs.fdatasyncSync(fd);
}

function fileParts(st: fs.BigIntStats): string[] | undefined {
  const now = BigInt(Date.now()) * 1_000_000n;
  if (now - st.ctimeNs < RACY_NS || now - st.mtimeNs < RACY_NS) return undefined;
  return [`file ${st.dev}:${st.ino} ${st.size} ${st.mtimeNs} ${st.ctimeNs}`];
}

/** The parts for a block device and everything under it, or undefined when one is missing or busy. */
function deviceParts(node: string, sys: string, seen = new Set<string>()): string[] | undefined {
  if (seen.has(node)) return [];
  seen.add(node);
  const dir = sysfsDeviceDir(node, sys);
  if (dir === undefined) return undefined;
  const disk = fs.existsSync(path.join(dir, 'partition')) ? path.dirname(dir) : dir;
  const own = counters(dir, disk);
  if (!own) return undefined;
  const parts = [`device ${node} ${own}`];
  const below = [...slaves(dir)];
  if (disk !== dir) below.push(disk);
  for (const d of below) {
    const dev = readText(path.join(d, 'dev'))?.trim();
    const more = dev && deviceParts(dev, sys, seen);
    if (!more) return undefined;
    parts.push(...more);
  }
  const backing = readText(path.join(dir, 'loop/backing_file'))?.trim();
  if (backing !== undefined) {
    let st: fs.BigIntStats;
    try {
      st = fs.statSync(backing, { bigint: true });
    } catch {
      return undefined;
    }
    const file = fileParts(st);
    if (!file) return undefined;
    parts.push(`backing ${backing}`, ...file);
  }
  return parts;
}

/** The slaves (dm, md) of a device, as sysfs directories. */
function* slaves(dir: string): Iterable<string> {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(dir, 'slaves'));
  } catch {
    return;
  }
  for (const n of names) yield sysfsRealpath(path.join(dir, 'slaves', n));
}

/**
 * The disk sequence (kept by `disk`: a partition's is its disk's) and completed writes and
 * discards (ios and sectors) from a sysfs block directory; undefined while requests are in
 * flight or the counters are missing.
 */
function counters(dir: string, disk: string): string | undefined {
  const stat = readText(path.join(dir, 'stat'))?.trim().split(/\s+/).map(Number);
  if (!stat || stat.length < 15) return undefined;
  const [, , , , writes, , writeSectors, , inFlight, , , discards, , discardSectors] = stat;
  if (inFlight !== 0) return undefined;
  const seq = readText(path.join(disk, 'diskseq'))?.trim();
  if (seq === undefined) return undefined;
  return `seq ${seq} writes ${writes} ${writeSectors} discards ${discards} ${discardSectors}`;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
