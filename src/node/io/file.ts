// Files and block devices as byte sources, with synchronous positional reads: one pread per
// call and no thread-pool hop, which is what keeps reading a log cheap. A walk that reads the
// whole log also reads ahead on the thread pool (readIntoLater), parsing one chunk while the
// kernel copies the next.

import * as fs from 'node:fs';
import type { ByteSource } from '../../reader.ts';
import { describeFd, type DeviceInfo } from './device-info.ts';
import { readFully, readFullyLater } from './full-io.ts';

export interface FileSource extends ByteSource {
  readonly fd: number;
  readonly info: DeviceInfo;
  close(): void;
}

/** The fds of the sources openSource made over a regular file or a block device: what can be mapped. */
const mappable = new WeakMap<ByteSource, number>();

/** The fd under `source` when openSource made it over a file or block device (the addon can map those). */
export function mappableFd(source: ByteSource): number | undefined {
  return mappable.get(source);
}

/** Open a log file or device read-only as a ByteSource. */
export function openSource(path: string): FileSource {
  const fd = fs.openSync(path, 'r');
  const info = describeFd(fd);
  const source: FileSource = {
    fd,
    info,
    size: info.size,
    read(offset, length) {
      const buf = Buffer.allocUnsafe(length);
      const got = readFully(fd, buf, offset);
      return got === length ? buf : buf.subarray(0, got);
    },
    readInto: (offset, into) => readFully(fd, into, offset),
    readIntoLater: (offset, into) => readFullyLater(fd, into, offset),
    close: () => fs.closeSync(fd),
  };
  if (info.isBlockDevice || fs.fstatSync(fd).isFile()) mappable.set(source, fd);
  return source;
}
