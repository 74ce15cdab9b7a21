// Files and block devices as byte sources and replay targets, with synchronous positional
// I/O: one pread/pwrite per call and no thread-pool hop, which is what keeps replay cheap.

import * as fs from 'node:fs';
import { majorMinor } from './devices.ts';
import type { ByteSource } from '../../reader.ts';

export interface DeviceInfo {
  readonly isBlockDevice: boolean;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  readonly rdev: number;
}

/** The sysfs folder of a block device (Node cannot issue ioctls such as BLKGETSIZE64). */
function sysfsBlock(rdev: number): string {
  return `/sys/dev/block/${majorMinor(rdev)}`;
}

function blockDeviceSize(rdev: number): number {
  return Number(fs.readFileSync(`${sysfsBlock(rdev)}/size`, 'utf8').trim()) * 512;
}

/** Whether BLKDISCARD would work on the target: block devices whose queue takes discards (a partition asks its disk). */
export function discardSupported(info: DeviceInfo): boolean {
  if (!info.isBlockDevice) return false;
  for (const queue of ['queue', '../queue']) {
    try {
      return Number(fs.readFileSync(`${sysfsBlock(info.rdev)}/${queue}/discard_max_bytes`, 'utf8').trim()) > 0;
    } catch {
      // Not this folder: a partition keeps its queue in the disk's.
    }
  }
  return false;
}

function infoOf(st: fs.Stats): DeviceInfo {
  const isBlockDevice = st.isBlockDevice();
  return { isBlockDevice, size: isBlockDevice ? blockDeviceSize(st.rdev) : st.size, dev: st.dev, ino: st.ino, rdev: st.rdev };
}

export const describe = (fd: number): DeviceInfo => infoOf(fs.fstatSync(fd));

/** What `path` is, without opening it (so nothing is opened for writing before it is judged); undefined when it does not exist. */
export function describePath(path: string): DeviceInfo | undefined {
  try {
    return infoOf(fs.statSync(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface FileSource extends ByteSource {
  readonly fd: number;
  readonly info: DeviceInfo;
  close(): void;
}

/** pread into all of `into`, looping over short reads; returns the bytes read (fewer only at the end). */
export function readFully(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = fs.readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Open a log file or device read-only as a ByteSource. */
export function openSource(path: string): FileSource {
  const fd = fs.openSync(path, 'r');
  const info = describe(fd);
  return {
    fd,
    info,
    size: info.size,
    read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      const got = readFully(fd, buf, offset);
      return got === length ? buf : buf.subarray(0, got);
    },
    readInto: (offset, into) => readFully(fd, into, offset),
    close: () => fs.closeSync(fd),
  };
}

/** pwrite all of `data` at `position`, looping over short writes. */
export function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

/** Buffers per pwritev: the kernel's UIO_MAXIOV. */
const MAX_IOV = 1024;

/** pwritev a run of buffers that are contiguous on the target, looping over short writes; returns the bytes written. */
export function writevAll(fd: number, parts: Uint8Array[], position: number): number {
  if (parts.length === 1) {
    writeAll(fd, parts[0]!, position);
    return parts[0]!.length;
  }
  if (parts.length > MAX_IOV) {
    let at = position;
    for (let i = 0; i < parts.length; i += MAX_IOV) at += writevAll(fd, parts.slice(i, i + MAX_IOV), at);
    return at - position;
  }
  let total = 0;
  for (const p of parts) total += p.length;
  const done = fs.writevSync(fd, parts, position);
  if (done < total) {
    // A short vectored write: finish the rest piece by piece.
    let skip = done;
    let at = position + done;
    for (const p of parts) {
      if (skip >= p.length) {
        skip -= p.length;
        continue;
      }
      writeAll(fd, p.subarray(skip), at);
      at += p.length - skip;
      skip = 0;
    }
  }
  return total;
}
