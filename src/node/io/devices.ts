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
import { majorMinor, sysfsDeviceDir, sysfsRealpath, type DeviceInfo } from './device-info.ts';

/** Bytes [start, end) of a whole disk (named as in /sys/block) or of a file (`file DEV:INO`). */
interface Extent {
  readonly on: string;
  readonly start: number;
  readonly end: number;
}

/** How far to follow slaves and backing files (real stacks are a few levels deep). */
const MAX_DEPTH = 16;

const readNumber = (file: string) => Number(fs.readFileSync(file, 'utf8').trim());

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
function places(
  dir: string,
  sys: string,
  from: number,
  to: number,
  throughLoops: boolean,
  out: Extent[],
  depth = 0,
): void {
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
  for (const s of slaves)
    places(sysfsRealpath(path.join(disk, 'slaves', s)), sys, 0, Infinity, throughLoops, out, depth + 1);
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
  const holder = throughLoops ? sysfsDeviceDir(st.dev, sys) : undefined;
  if (holder) places(holder, sys, 0, Infinity, throughLoops, out, depth + 1);
}

/** Everything the log's bytes depend on. */
function logPlaces(log: DeviceInfo, sys: string): Extent[] {
  const out: Extent[] = log.isBlockDevice ? [] : [{ on: fileKey(log.dev, log.ino), start: 0, end: Infinity }];
  const dir = sysfsDeviceDir(log.isBlockDevice ? log.rdev : log.dev, sys);
  if (dir) places(dir, sys, 0, Infinity, true, out);
  return out;
}

/** Everything the replay's first `writeEnd` bytes on the target reach. */
function targetPlaces(target: DeviceInfo, writeEnd: number, sys: string): Extent[] {
  if (!target.isBlockDevice) return [{ on: fileKey(target.dev, target.ino), start: 0, end: writeEnd }];
  const out: Extent[] = [];
  const dir = sysfsDeviceDir(target.rdev, sys);
  if (dir) places(dir, sys, 0, writeEnd, false, out);
  return out;
}

const overlap = (a: Extent, b: Extent) => a.on === b.on && a.start < b.end && b.start < a.end && a.start < a.end;

/**
 * Why replaying `writeEnd` bytes onto `target` could overwrite the log, or undefined. Regular
 * files count too: a target file can be the backing file of a loop device the log is on.
 */
export function sharedDeviceHazard(
  targetPath: string,
  target: DeviceInfo,
  log: DeviceInfo,
  writeEnd: number,
  sys = '/sys',
  logName = 'the log',
): string | undefined {
  const logs = logPlaces(log, sys);
  for (const t of targetPlaces(target, writeEnd, sys)) {
    const hit = logs.find((l) => overlap(t, l));
    if (!hit) continue;
    const what = t.on.startsWith('file ') ? `the file ${t.on.slice(5)} (device:inode)` : `disk ${t.on}`;
    const bytes = (a: number, b: number) => `${a}..${b === Infinity ? 'its end' : b}`;
    return `${targetPath} and ${logName} share ${what}: the write reaches its bytes ${bytes(t.start, t.end)} and ${logName} lies in ${bytes(hit.start, hit.end)}`;
  }
  return undefined;
}

/** Something that carries a target's bytes: a block device (`maj:min`) or a file (`dev:ino`). */
export interface Carrier {
  readonly kind: 'block' | 'file';
  readonly key: string;
  /** `/dev/NAME` or the file's path. */
  readonly name: string;
  /** How the target reaches it, e.g. ['backs /dev/loop3', 'holds partition /dev/loop3p1']; empty for the target itself. */
  readonly via: readonly string[];
}

const blockName = (dir: string) => `/dev/${path.basename(dir)}`;

/** The entries of `dir` whose names start with `prefix` and that hold `file`. */
function subdirsWith(dir: string, file: string, prefix = ''): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((d) => d.startsWith(prefix))
      .map((d) => path.join(dir, d))
      .filter((d) => fs.existsSync(path.join(d, file)));
  } catch {
    return [];
  }
}

/** The loop devices whose backing file is `dev:ino`. */
function loopsOn(dev: number, ino: number, sys: string): string[] {
  const out: string[] = [];
  for (const d of subdirsWith(path.join(sys, 'block'), 'loop/backing_file')) {
    const backing = readOptional(path.join(d, 'loop/backing_file'));
    try {
      const st = backing && fs.statSync(backing);
      if (st && st.dev === dev && st.ino === ino) out.push(sysfsRealpath(d));
    } catch {
      // A backing file that is gone is no longer this file.
    }
  }
  return out;
}

/**
 * Everything whose content changes when the target is written, so that a write there would
 * pull the rug from under whoever uses it: the target, the loop devices a file backs (and other
 * loop devices on the same backing file), a device's partitions, the device-mapper and md
 * devices built on it (holders), and a partition's disk. Siblings of a partition are not.
 */
export function carriers(targetPath: string, target: DeviceInfo, sys = '/sys'): Carrier[] {
  const out: Carrier[] = [];
  const seen = new Set<string>();
  const add = (c: Carrier): boolean => {
    const id = `${c.kind} ${c.key}`;
    if (seen.has(id)) return false;
    seen.add(id);
    out.push(c);
    return true;
  };
  const file = (key: { dev: number; ino: number }, name: string, via: string[], depth: number) => {
    if (!add({ kind: 'file', key: `${key.dev}:${key.ino}`, name, via })) return;
    for (const loop of loopsOn(key.dev, key.ino, sys))
      block(loop, [...via, `backs ${blockName(loop)}`], depth + 1, true);
  };
  const block = (dir: string, via: string[], depth: number, expand: boolean): void => {
    if (depth > MAX_DEPTH) return;
    const dev = readOptional(path.join(dir, 'dev'));
    if (!dev || !add({ kind: 'block', key: dev, name: blockName(dir), via })) return;
    if (!expand) return;
    // The kernel names a partition after its disk (loop3p1, sda1): only those entries are asked,
    // not each of the ~25 attributes beside them, at every replay's guard.
    for (const part of subdirsWith(dir, 'partition', path.basename(dir)))
      block(part, [...via, `holds partition ${blockName(part)}`], depth + 1, true);
    for (const h of subdirsWith(path.join(dir, 'holders'), 'dev')) {
      const held = sysfsRealpath(h);
      block(held, [...via, `is under ${blockName(held)}`], depth + 1, true);
    }
    if (fs.existsSync(path.join(dir, 'partition')))
      block(path.dirname(dir), [...via, `is part of ${blockName(path.dirname(dir))}`], depth + 1, false);
    const backing = readOptional(path.join(dir, 'loop/backing_file'));
    if (!backing) return;
    try {
      const st = fs.statSync(backing);
      file(st, backing, [...via, `is a loop device on ${backing}`], depth + 1);
    } catch {
      // The backing file is gone: nothing else sees these bytes.
    }
  };
  if (target.isBlockDevice) {
    const dir = sysfsDeviceDir(target.rdev, sys);
    if (dir) block(dir, [], 0, true);
    else add({ kind: 'block', key: majorMinor(target.rdev), name: targetPath, via: [] });
  } else file(target, targetPath, [], 0);
  return out;
}
