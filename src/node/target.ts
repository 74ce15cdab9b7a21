// Replay targets on Node: image files and raw block devices, plus the safety checks that
// keep a replay off a mounted file system and off the log itself.

import * as fs from 'node:fs';
import type { ReplayTarget } from '../replay.ts';
import { describe, writeAll, writevAll, type DeviceInfo } from './file.ts';

const ZERO_CHUNK = 1024 * 1024;
let zeros: Uint8Array | undefined;

export interface FileTarget extends ReplayTarget {
  readonly fd: number;
  readonly info: DeviceInfo;
  close(): void;
}

/** Open an existing file or block device for replay (never creates or truncates it). */
export function openTarget(path: string): FileTarget {
  const fd = fs.openSync(path, fs.constants.O_WRONLY);
  const info = describe(fd);
  // Bytes past a device's end cannot be written, and past a file's end they already read as
  // zeros: a discard is cut to `end`, so a forged one never writes (or grows) without bound.
  let end = info.size;
  return {
    fd,
    info,
    write(offset, parts) {
      writevAll(fd, parts, offset);
      if (!info.isBlockDevice) end = Math.max(end, offset + parts.reduce((n, p) => n + p.length, 0));
    },
    zero(offset, length) {
      zeros ??= new Uint8Array(ZERO_CHUNK);
      const stop = Math.min(offset + length, end);
      for (let at = offset; at < stop; at += ZERO_CHUNK) writeAll(fd, zeros.subarray(0, Math.min(ZERO_CHUNK, stop - at)), at);
    },
    sync: () => fs.fsyncSync(fd),
    close: () => fs.closeSync(fd),
  };
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Why writing to `target` would hurt, or undefined when it would not: the target is the log
 * itself, or it is (or holds, for a loop device's backing file) a mounted file system.
 */
export function replayHazard(targetPath: string, target: DeviceInfo, log: DeviceInfo): string | undefined {
  if (target.dev === log.dev && target.ino === log.ino) return `${targetPath} is the log itself`;
  if (target.isBlockDevice && log.isBlockDevice && target.rdev === log.rdev) return `${targetPath} is the log device itself`;
  if (!target.isBlockDevice) return undefined;
  let mounts = '';
  try {
    mounts = fs.readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of mounts.split('\n')) {
    const [source, where] = line.split(' ');
    if (!source?.startsWith('/')) continue;
    try {
      const st = fs.statSync(unescapeMount(source));
      if (st.isBlockDevice() && st.rdev === target.rdev) return `${targetPath} is mounted on ${unescapeMount(where ?? '?')}`;
    } catch {
      // A mount source that is gone or unreadable cannot be our target.
    }
  }
  return undefined;
}
