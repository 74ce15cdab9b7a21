// Files and block devices as byte sources, with synchronous positional reads: one pread per
// call and no thread-pool hop, which is what keeps reading a log cheap. With the addon, a walk
// reads the log in place through a mapping instead (view; mapped-log.ts): nothing is copied.
// Without it, a walk that reads the whole log also reads ahead on the thread pool
// (readIntoLater), parsing one chunk while the kernel copies the next. A block device's
// writer writes payloads from the same mapping (inPlace), so its pages are mapped once.

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

/** The mapping of each source openSource made, made at its first use (undefined where it cannot be). */
const mappings = new WeakMap<ByteSource, () => MappedLog | undefined>();

/**
 * The log's bytes in place: the mapping a walk made of `source` (made now if none did), or
 * undefined where openSource did not make it or it cannot be mapped. Valid until it closes.
 */
export function inPlace(source: ByteSource): Uint8Array | undefined {
  return mappings.get(source)?.()?.bytes;
}

/**
 * Before the walk of a last-write plan onto `target`: where the target is a block device, its
 * writer writes the payloads from the log's mapping next (inPlace), so from now on a walk over
 * `source` keeps the pages it passes mapped. Pages let go of would be mapped again for the
 * writer, each costing its mapping and its unmapping twice (bench/raw's 1.1 GiB log: 15-45 ms
 * less of a replay's time outside the device's own, medians of 6 interleaved).
 */
export function keepMappedFor(source: ByteSource, target: DeviceInfo): void {
  if (target.isBlockDevice) mappings.get(source)?.()?.keep();
}

/** Open a log file or device read-only as a ByteSource. */
export function openSource(path: string): FileSource {
  const fd = fs.openSync(path, 'r');
  const info = describeFd(fd);
  const mappable = (info.isBlockDevice || fs.fstatSync(fd).isFile()) && MappedLog.possible(info);
  const read = (offset: number, length: number) => {
    const buf = Buffer.allocUnsafe(length);
    const got = readFully(fd, buf, offset);
    return got === length ? buf : buf.subarray(0, got);
  };
  // Mapped at the first view, not here: a find over a stored index reads nothing past the
  // super, and mapping and unmapping cost ~0.04 ms of its ~1 ms.
  let mapped: MappedLog | undefined;
  let refused = false;
  let closed = false;
  const mapping = () => {
    if (closed) throw new LogClosed();
    if (!mapped && !refused) {
      mapped = MappedLog.open(fd, info);
      refused = !mapped;
    }
    return mapped;
  };
  // The kernel refused the mapping: a copy, which stays valid longer than a view need.
  const view = (offset: number, length: number) => mapping()?.view(offset, length) ?? read(offset, length);
  const source: FileSource = {
    fd,
    info,
    size: info.size,
    read,
    readInto: (offset, into) => readFully(fd, into, offset),
    readIntoLater: (offset, into) => readFullyLater(fd, into, offset),
    ...(mappable && { view }),
    close: () => {
      closed = true;
      mapped?.close();
      fs.closeSync(fd);
    },
  };
  if (mappable) mappings.set(source, mapping);
  return source;
}
