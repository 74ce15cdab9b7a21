// The one place every writing command asks before it opens anything for writing (replay,
// replay-log, explore's working image and --materialize, recover --write, serve's data and
// log): is the target the log, does it share the log's file or device, is it mounted (or does
// it back something mounted), is a running `serve` holding it? `--force` is the way past each.

import * as fs from 'node:fs';
import { carriers, sharedDeviceHazard, type Carrier } from '../io/devices.ts';
import { describePath, majorMinor, type DeviceInfo } from '../io/device-info.ts';
import { heldBy } from './holds.ts';
import { heldText, WriteRefused } from '../../errors.ts';

export interface WriteCheck {
  /** What is about to be written. A path that does not exist yet is no hazard. */
  readonly path: string;
  /** What must survive the write, e.g. `{ name: 'the log', info }`. */
  readonly keep?: readonly { readonly name: string; readonly info: DeviceInfo }[];
  /** The write reaches bytes [0, writeEnd) of the target (default: all of it). */
  readonly writeEnd?: number;
  /** For tests: where sysfs and the mount table are. */
  readonly sys?: string;
  readonly mountinfo?: string;
}

interface Mount {
  readonly device: string;
  readonly where: string;
  /** The mount's source when it names a block device (btrfs shows an anonymous maj:min). */
  readonly source?: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** /proc/self/mountinfo: `ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - TYPE SOURCE SUPER`. */
function mounts(file: string): Mount[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const source = f[f.indexOf('-') + 2];
    out.push({
      device: f[2]!,
      where: unescape(f[4]!),
      ...(source?.startsWith('/') ? { source: unescape(source) } : {}),
    });
  }
  return out;
}

function sourceDevice(source: string): string | undefined {
  try {
    const st = fs.statSync(source);
    return st.isBlockDevice() ? majorMinor(st.rdev) : undefined;
  } catch {
    return undefined;
  }
}

const how = (c: Carrier) => c.via.join(', which ');

function mountHazard(path: string, all: readonly Carrier[], mountinfo: string): string | undefined {
  const blocks = new Map(all.filter((c) => c.kind === 'block').map((c) => [c.key, c]));
  if (!blocks.size) return undefined;
  for (const m of mounts(mountinfo)) {
    const c = blocks.get(m.device) ?? (m.source ? blocks.get(sourceDevice(m.source) ?? '') : undefined);
    if (!c) continue;
    return c.via.length ? `${path} ${how(c)}, mounted on ${m.where}` : `${path} is mounted on ${m.where}`;
  }
  return undefined;
}

function holdHazard(path: string, all: readonly Carrier[]): string | undefined {
  for (const c of all) {
    const h = heldBy(c);
    if (h) return heldText(c.via.length ? `${path} ${how(c)}, which` : path, h);
  }
  return undefined;
}

function sameAs(t: DeviceInfo, k: DeviceInfo): boolean {
  if (t.isBlockDevice && k.isBlockDevice) return t.rdev === k.rdev;
  return !t.isBlockDevice && !k.isBlockDevice && t.dev === k.dev && t.ino === k.ino;
}

/** Why writing `c.path` would destroy something, or undefined. */
export function writeHazard(c: WriteCheck): string | undefined {
  const target = describePath(c.path);
  if (!target) return undefined;
  const sys = c.sys ?? '/sys';
  for (const k of c.keep ?? []) {
    if (sameAs(target, k.info)) return `${c.path} is ${k.name} itself`;
    const shared = sharedDeviceHazard(c.path, target, k.info, c.writeEnd ?? Infinity, sys, k.name);
    if (shared) return shared;
  }
  const all = carriers(c.path, target, sys);
  return mountHazard(c.path, all, c.mountinfo ?? '/proc/self/mountinfo') ?? holdHazard(c.path, all);
}

/** Throw WriteRefused (`refusing to VERB: reason`) unless the write is safe or forced. */
export function guardWrite(verb: string, c: WriteCheck, force: boolean): void {
  if (force) return;
  const hazard = writeHazard(c);
  if (hazard) throw new WriteRefused(verb, hazard);
}
