// Making a range of a target read as zeros (what a replayed discard leaves) at device speed.
// Node has neither ioctl nor fallocate, so the kernel's offloads come from the optional
// native addon (src/node/io/native.ts): BLKZEROOUT or BLKDISCARD on a block device, a punched
// hole in a file, each a few microseconds. Without
// the addon, large ranges go to util-linux's blkdiscard / fallocate (a process start costs
// ~5 ms, about what writing 8 MiB of zeros costs) and small ones are written as zeros.

import type * as fs from 'node:fs';
import { discardZeroes, type DeviceInfo } from './device-info.ts';
import { readFully, writeAll, writevFull } from './full-io.ts';
import { childProcess } from './lazy.ts';
import { loadNative } from './native.ts';

/**
 * zero: reads back as zeros afterwards (BLKZEROOUT on a device, BLKDISCARD where that is
 * known to zero: a loop device over a file; a hole in a file).
 * unmap: the device's own discard (BLKDISCARD), as xfstests' C tool does; where the device
 * has none, zeros. A device may keep old data after a discard: only loop devices, dm-thin
 * whole blocks and the like promise zeros.
 */
export type ZeroMode = 'zero' | 'unmap';

/** The kernel operations the addon can issue (native.c's OP_ numbers). */
const enum Op {
  BlkDiscard = 0,
  BlkZeroOut = 1,
  PunchHole = 2,
}

const EOPNOTSUPP = 95;
const ENOTTY = 25;

/** Below this many bytes, without the addon, zeros are written rather than a tool started. */
export const SPAWN_MIN = 8 * 1024 * 1024;
/** Zeros are written from one shared chunk of this many bytes. */
const ZERO_CHUNK = 1024 * 1024;
let zeros: Uint8Array | undefined;
let scratch: Uint8Array | undefined;
/** The shared chunk of zeros: only ever read, never written into. */
const zeroChunk = () => (zeros ??= new Uint8Array(ZERO_CHUNK));

/** `length` bytes of zeros as slices of the shared chunk (for a log entry, or a vectored write). */
export function zeroParts(length: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < length; at += ZERO_CHUNK)
    parts.push(zeroChunk().subarray(0, Math.min(ZERO_CHUNK, length - at)));
  return parts;
}

/** Write zeros over `length` bytes at `offset` of an open FileHandle, without blocking (serve's TRIM and WRITE_ZEROES). */
export function writeZerosTo(fh: fs.promises.FileHandle, offset: number, length: number): Promise<void> {
  return writevFull(fh, zeroParts(length), offset);
}

/**
 * Zero [offset, stop) chunk by chunk. Where the target can be read, chunks that already read
 * as zeros are left alone: a discard over a sparse image costs reads of holes instead of
 * allocating the whole range.
 */
function writeZeros(fd: number, readable: boolean, offset: number, stop: number): void {
  if (readable) scratch ??= new Uint8Array(ZERO_CHUNK);
  for (let at = offset; at < stop; at += ZERO_CHUNK) {
    const chunk = zeroChunk().subarray(0, Math.min(ZERO_CHUNK, stop - at));
    if (readable) {
      const view = scratch!.subarray(0, chunk.length);
      if (readFully(fd, view, at) === chunk.length && Buffer.compare(view, chunk) === 0) continue;
    }
    writeAll(fd, chunk, at);
  }
}

/** The same operation by util-linux, on our descriptor through /proc; false when the tool is missing or refuses. */
function spawnTool(fd: number, op: Op, offset: number, length: number): boolean {
  const path = `/proc/${process.pid}/fd/${fd}`;
  const range = ['-o', String(offset), '-l', String(length)];
  const [cmd, args] =
    op === Op.PunchHole
      ? ['fallocate', ['-p', ...range, path]]
      : ['blkdiscard', ['-f', ...(op === Op.BlkZeroOut ? ['-z'] : []), ...range, path]];
  const r = childProcess().spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * A zeroing function for one open target: `(offset, stop)` makes those bytes read as zeros
 * (for `unmap` on a device: discards them). An operation the target refuses once (no
 * discard, no hole punching) is not tried again; a range it refuses (misaligned for the
 * device) is written as zeros.
 */
export function zeroer(
  fd: number,
  info: DeviceInfo,
  readable: boolean,
  mode: ZeroMode,
): (offset: number, stop: number) => void {
  // In order of preference; one the target lacks is dropped for the next.
  const ops = !info.isBlockDevice
    ? [Op.PunchHole]
    : mode === 'unmap'
      ? [Op.BlkDiscard]
      : discardZeroes(info)
        ? [Op.BlkDiscard, Op.BlkZeroOut]
        : [Op.BlkZeroOut];
  return (offset, stop) => {
    const length = stop - offset;
    if (length <= 0) return;
    while (ops.length) {
      const a = loadNative();
      if (a) {
        const r = a.zero(fd, ops[0]!, offset, length);
        if (r === 0) return;
        if (r !== -EOPNOTSUPP && r !== -ENOTTY) break;
      } else {
        if (length < SPAWN_MIN) break;
        if (spawnTool(fd, ops[0]!, offset, length)) return;
      }
      ops.shift();
    }
    writeZeros(fd, readable, offset, stop);
  };
}
