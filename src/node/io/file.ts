// Files and block devices as byte sources, with synchronous positional reads: one pread per
// call and no thread-pool hop, which is what keeps reading a log cheap. With the addon, a walk
// reads the log in place through a mapping instead (view; mapped-log.ts): nothing is copied.
// Without it, a walk that reads the whole log also reads ahead on the thread pool
// (readIntoLater), parsing one chunk while the kernel copies the next.

import * as fs from 'node:fs';
import { LogClosed } from '../../errors.ts';
import type { ByteSource } from '../../reader.ts';
import { describeFd, type DeviceInfo } from './device-info.ts';
import { readFully, readFullyLater } from './full-io.ts';
import { MappedLog } from './mapped-log.ts';

export interface FileSource extends ByteSource {
  readonly fd: number;
  readonly info: DeviceInfo;
  close(): void;
}

/** The fds of the sources openSource made over a regular file or a block device: what can be mapped. */
const mappableFds = new WeakMap<ByteSource, number>();

/** The fd under `source` when openSource made it over a file or block device (the addon can map those). */
export function mappableFd(source: ByteSource): number | undefined {
  return mappableFds.get(source);
}

/** Open a log file or device read-only as a ByteSource. */
export function openSource(path: string): FileSource {
  const fd = fs.openSync(path, 'r');
  const info = describeFd(fd);
  const mappable = info.isBlockDevice || fs.fstatSync(fd).isFile();
  const read = (offset: number, length: number) => {
    const buf = Buffer.allocUnsafe(length);
    const got = readFully(fd, buf, offset);
    return got === length ? buf : buf.subarray(0, got);
  };
  // Mapped at the first view, not here: a find over a stored index reads nothing past the
  // super, and mapping and unmapping cost ~0.04 ms of its ~1 ms.
  let mapped: MappedLog | undefined;
  let closed = false;
  const view = (offset: number, length: number) => {
    if (closed) throw new LogClosed();
    mapped ??= MappedLog.open(fd, info);
    // The kernel refused the mapping: a copy, which stays valid longer than a view need.
    return mapped ? mapped.view(offset, length) : read(offset, length);
  };
  const source: FileSource = {
    fd,
    info,
    size: info.size,
    read,
    readInto: (offset, into) => readFully(fd, into, offset),
    readIntoLater: (offset, into) => readFullyLater(fd, into, offset),
    ...(mappable && MappedLog.possible(info) && { view }),
    close: () => {
      closed = true;
      mapped?.close();
      fs.closeSync(fd);
    },
  };
  if (mappable) mappableFds.set(source, fd);
  return source;
}
