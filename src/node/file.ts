// Files and block devices as byte sources and replay targets, with synchronous positional
// I/O: one pread/pwrite per call and no thread-pool hop, which is what keeps replay cheap.

import * as fs from 'node:fs';
import type { ByteSource } from '../reader.ts';

export interface DeviceInfo {
  readonly isBlockDevice: boolean;
  readonly size: number;
  readonly dev: number;
  readonly ino: number;
  readonly rdev: number;
}

/** Size in bytes of a block device from sysfs (Node cannot issue BLKGETSIZE64). */
function blockDeviceSize(rdev: number): number {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 0x100000) & 0xfff) << 8);
  const sectors = fs.readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
  return Number(sectors.trim()) * 512;
}

export function describe(fd: number): DeviceInfo {
  const st = fs.fstatSync(fd);
  const isBlockDevice = st.isBlockDevice();
  return { isBlockDevice, size: isBlockDevice ? blockDeviceSize(st.rdev) : st.size, dev: st.dev, ino: st.ino, rdev: st.rdev };
}

export interface FileSource extends ByteSource {
  readonly fd: number;
  readonly info: DeviceInfo;
  close(): void;
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
      let got = 0;
      while (got < length) {
        const n = fs.readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      return got === length ? buf : buf.subarray(0, got);
    },
    close: () => fs.closeSync(fd),
  };
}

/** pwrite all of `data` at `position`, looping over short writes. */
export function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

/** pwritev a run of buffers that are contiguous on the target, looping over short writes. */
export function writevAll(fd: number, parts: Uint8Array[], position: number): void {
  if (parts.length === 1) return writeAll(fd, parts[0]!, position);
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
}
