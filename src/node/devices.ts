// Whether writing a replay target could overwrite the log, found in sysfs: the two on the same
// disk (a partition and its disk, overlapping partitions, a device-mapper or md device built on
// the other), or a loop device whose backing file is the log.
//
// Stacked devices are judged conservatively (any shared disk counts), since their mapping
// tables are not read; a plain disk or partition target is judged by the bytes the replay
// will actually write, so a log in a later partition of the target disk is fine when the
// replay ends before it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceInfo } from './file.ts';

/** Bytes [start, end) of a whole disk (named as in /sys/block) or of a file (`file DEV:INO`). */
interface Extent {
  readonly on: string;
  readonly start: number;
  readonly end: number;
}

/** How far to follow slaves and backing files (real stacks are a few levels deep). */
const MAX_DEPTH = 16;

/** Linux's dev_t split (glibc's major()/minor()). */
export function majorMinor(dev: number): string {
  const major = (Math.floor(dev / 256) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | ((Math.floor(dev / 0x100000) & 0xfff) << 8);
  return `${major}:${minor}`;
}

const readNumber = (file: string) => Number(fs.readFileSync(file, 'utf8').trim());

/** The sysfs directory of a block device, or undefined when sysfs does not know it. */
function deviceDir(dev: number, sys: string): string | undefined {
  try {
    return fs.realpathSync(path.join(sys, 'dev/block', majorMinor(dev)));
  } catch {
    return undefined;
  }
}

const fileKey = (dev: number, ino: number) => `file ${dev}:${ino}`;

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Where bytes [from, to) of the device at sysfs `dir` land, pushed onto `out`: the whole disk
 * they are on and, below it, what the disk is made of. `throughLoops` also counts the device
 * holding a loop device's backing file (a log is lost if that device is overwritten; a
 * target's writes stay inside its backing file).
 */
function places(dir: string, sys: string, from: number, to: number, throughLoops: boolean, out: Extent[], depth = 0): void {
  if (depth > MAX_DEPTH) return;
  const end = Math.min(to, readNumber(path.join(dir, 'size')) * 512);
  const isPartition = fs.existsSync(path.join(dir, 'partition'));
  const disk = isPartition ? path.dirname(dir) : dir;
  const shift = isPartition ? readNumber(path.join(dir, 'start')) * 512 : 0;
  out.push({ on: path.basename(disk), start: shift + from, end: shift + end });
  // Below the disk, which bytes a stacked device maps where is not read: count all of each.
  let slaves: string[] = [];
  try {
    slaves = fs.readdirSync(path.join(disk, 'slaves'));
  } catch {
    // Not a stacked device.
  }
  for (const s of slaves) places(fs.realpathSync(path.join(disk, 'slaves', s)), sys, 0, Infinity, throughLoops, out, depth + 1);
  const backing = readOptional(path.join(disk, 'loop/backing_file'));
  if (!backing) return;
  let st: fs.Stats;
  try {
    st = fs.statSync(backing);
  } catch {
    return; // A backing file that is gone cannot hold the log.
  }
  const offset = Number(readOptional(path.join(disk, 'loop/offset')) ?? 0);
  out.push({ on: fileKey(st.dev, st.ino), start: offset + shift + from, end: offset + shift + end });
  const holder = throughLoops ? deviceDir(st.dev, sys) : undefined;
  if (holder) places(holder, sys, 0, Infinity, throughLoops, out, depth + 1);
}

/** Everything the log's bytes depend on. */
function logPlaces(log: DeviceInfo, sys: string): Extent[] {
  const out: Extent[] = log.isBlockDevice ? [] : [{ on: fileKey(log.dev, log.ino), start: 0, end: Infinity }];
  const dir = deviceDir(log.isBlockDevice ? log.rdev : log.dev, sys);
  if (dir) places(dir, sys, 0, Infinity, true, out);
  return out;
}

/** Everything the replay's first `writeEnd` bytes on the target reach. */
function targetPlaces(target: DeviceInfo, writeEnd: number, sys: string): Extent[] {
  if (!target.isBlockDevice) return [{ on: fileKey(target.dev, target.ino), start: 0, end: writeEnd }];
  const out: Extent[] = [];
  const dir = deviceDir(target.rdev, sys);
  if (dir) places(dir, sys, 0, writeEnd, false, out);
  return out;
}

const overlap = (a: Extent, b: Extent) => a.on === b.on && a.start < b.end && b.start < a.end && a.start < a.end;

/**
 * Why replaying `writeEnd` bytes onto `target` could overwrite the log, or undefined. Regular
 * files count too: a target file can be the backing file of a loop device the log is on.
 */
export function sharedDeviceHazard(targetPath: string, target: DeviceInfo, log: DeviceInfo, writeEnd: number, sys = '/sys'): string | undefined {
  const logs = logPlaces(log, sys);
  for (const t of targetPlaces(target, writeEnd, sys)) {
    const hit = logs.find((l) => overlap(t, l));
    if (!hit) continue;
    const what = t.on.startsWith('file ') ? `the file ${t.on.slice(5)} (device:inode)` : `disk ${t.on}`;
    return `${targetPath} and the log share ${what}: the replay writes its bytes ${t.start}..${t.end} and the log lies in ${hit.start}..${hit.end}`;
  }
  return undefined;
}
