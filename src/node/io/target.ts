// Replay targets on Node: image files and raw block devices (write-guard.ts judges them first).

import * as fs from 'node:fs';
import { type ReplayTarget } from '../../replay/loop.ts';
import { describeFd, type DeviceInfo } from './device-info.ts';
import { writevAll } from './full-io.ts';
import { DirectWriter } from './direct.ts';
import { WriteBehind } from './write-behind.ts';
import { zeroer, type ZeroMode } from './zeroing.ts';
import { TargetTooSmall } from '../../errors.ts';

export interface FileTarget extends ReplayTarget {
  readonly fd: number;
  readonly info: DeviceInfo;
  close(): void;
}

export interface TargetOptions {
  /**
   * Let writes past the end of a regular file grow it, as upstream replay-log does. Without it
   * the target holds its size: it refuses such writes with TargetTooSmall, and tells replay its
   * size so that replay refuses the entry, naming it, before writing any of it.
   */
  grow?: boolean;
  /** Start writeback while replaying (see WriteBehind): for long replays that end in a sync. */
  writeBehind?: boolean;
  /** What a discard does to the target (see ZeroMode): reads as zeros (default) or is the device's own discard. */
  discard?: ZeroMode;
  /**
   * On a block device, write runs that cover part of a page with O_DIRECT, several in flight
   * (see DirectWriter); whole pages, and other targets, go through the page cache. With the
   * addon, the target also takes many O_DIRECT writes at once (`runs`): the last-write plan
   * then writes everything that way, in log order.
   */
  direct?: boolean;
}

/** Open read-write where allowed (zeroing can then skip what already reads as zeros), else write-only. */
function openForReplay(path: string): { fd: number; readable: boolean } {
  try {
    return { fd: fs.openSync(path, fs.constants.O_RDWR), readable: true };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw e;
    return { fd: fs.openSync(path, fs.constants.O_WRONLY), readable: false };
  }
}

/** `then` once `drained` is done: at once when it is not a promise (nothing was in flight). */
function after(drained: Promise<void> | void, then: () => void | Promise<void>): void | Promise<void> {
  return drained ? drained.then(then) : then();
}

/** Open an existing file or block device for replay (never creates or truncates it). */
export function openTarget(path: string, opts: TargetOptions = {}): FileTarget {
  const opened = openForReplay(path);
  const fd = opened.fd;
  const info = describeFd(fd);
  // On a real disk the reads would cost more than the writes they save; files have holes.
  const readable = opened.readable && !info.isBlockDevice;
  // Bytes past a device's end cannot be written, and past a file's end they already read as
  // zeros: a discard is cut to `end`, so a forged one never writes (or grows) without bound.
  let end = info.size;
  const grow = !!opts.grow;
  const fits = (offset: number, length: number) => {
    if (!grow && offset + length > info.size) throw new TargetTooSmall(path, offset + length, info.size);
  };
  // LOGWRITES_NO_DIRECT=1 keeps every write in the page cache (to compare, as bench/raw does).
  const direct = opts.direct && process.env.LOGWRITES_NO_DIRECT !== '1' ? DirectWriter.open(path, info) : undefined;
  const behind = opts.writeBehind ? new WriteBehind(fd) : undefined;
  const zeroRange = zeroer(fd, info, readable, opts.discard ?? 'zero');
  const buffered = (offset: number, parts: Uint8Array[]) => {
    const bytes = writevAll(fd, parts, offset);
    behind?.wrote(bytes);
    if (!info.isBlockDevice) end = Math.max(end, offset + bytes);
  };
  const runs = direct?.runs;
  return {
    fd,
    info,
    ...(grow ? {} : { size: info.size }),
    ...(runs && {
      runs: {
        ...runs,
        write(from, rows, count) {
          let end = 0;
          for (let i = 0; i < count; i++) end = Math.max(end, rows[3 * i]! + rows[3 * i + 2]!);
          fits(0, end);
          return runs.write(from, rows, count);
        },
      },
    }),
    write(offset, parts) {
      const length = parts.reduce((n, p) => n + p.length, 0);
      fits(offset, length);
      if (!direct) return buffered(offset, parts);
      if (direct.pays(offset, length)) return direct.write(offset, parts);
      // Through the page cache, after what is in flight, so that the device sees the writes in order.
      return after(direct.drain(), () => buffered(offset, parts));
    },
    zero(offset, length) {
      fits(offset, length);
      const zero = () => zeroRange(offset, Math.min(offset + length, end));
      return direct ? after(direct.drain(), zero) : zero();
    },
    sync: () => after(direct?.drain(), () => fs.fsyncSync(fd)),
    close: () => {
      behind?.close();
      direct?.close();
      fs.closeSync(fd);
    },
  };
}
