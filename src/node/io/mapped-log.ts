// A log read in place: the addon maps it (mapped.c says why, and how a file cut short under
// the mapping is survived), and a walk's chunks are views of the mapping instead of copies.

import * as fs from 'node:fs';
import { LogClosed, LogFormatError } from '../../errors.ts';
import type { DeviceInfo } from './device-info.ts';
import { loadNative, type Native } from './native.ts';

/**
 * A walk lets go of the pages behind it every this many bytes, so that its resident memory
 * stays small (unless `keep` says a writer will want them next).
 */
export const DROP_BEHIND = 64 * 1024 * 1024;

export class MappedLog {
  private dropped = 0;
  private keeping = false;

  private constructor(
    private readonly native: Native,
    private readonly fd: number,
    private readonly info: DeviceInfo,
    private mapped: Uint8Array,
  ) {}

  /** Whether `open` can map a log like `info` here (the addon is there and mapping not turned off). */
  static possible(info: DeviceInfo): boolean {
    return !!info.size && process.env.LOGWRITES_NO_MAP !== '1' && !!loadNative();
  }

  /**
   * The log at `fd` mapped, or undefined where it cannot be (no addon, an empty log, a file
   * that cannot be mapped) or with LOGWRITES_NO_MAP=1: the caller reads it then.
   */
  static open(fd: number, info: DeviceInfo): MappedLog | undefined {
    const native = MappedLog.possible(info) ? loadNative() : undefined;
    if (!native) return undefined;
    const r = native.mapLog(fd, info.size);
    return typeof r === 'number' ? undefined : new MappedLog(native, fd, info, new Uint8Array(r));
  }

  /**
   * Bytes [offset, offset + length), fewer where the log ends, as a view of the mapping: valid
   * until close. A regular file is asked its size each time, so that one cut short reads as
   * truncated here, as it would through read(2).
   */
  view(offset: number, length: number): Uint8Array {
    const mapped = this.mapped;
    if (!mapped.length) throw new LogClosed();
    if (this.native.logCut(mapped.buffer as ArrayBuffer))
      throw new LogFormatError(offset, 'the log was cut short while it was being read', undefined, 'malformed');
    const size = this.info.isBlockDevice ? mapped.length : Math.min(mapped.length, fs.fstatSync(this.fd).size);
    // A walk that starts again behind the last (a scan, then the replay) lets go from there on.
    if (offset < this.dropped) this.dropped = offset;
    if (offset - this.dropped >= DROP_BEHIND && !this.keeping) {
      this.native.dropMapped(mapped.buffer as ArrayBuffer, this.dropped, offset - this.dropped);
      this.dropped = offset;
    }
    const start = Math.min(offset, size);
    return mapped.subarray(start, Math.max(start, Math.min(offset + length, size)));
  }

  /** The whole mapping, for a writer that writes from it (RunWriter.inPlace): valid until close. */
  get bytes(): Uint8Array {
    if (!this.mapped.length) throw new LogClosed();
    return this.mapped;
  }

  /** Walks keep the pages they pass mapped from now on (file.ts's keepMappedFor says why). */
  keep(): void {
    this.keeping = true;
  }

  /** Unmap: views made before read as empty from now on (never as unmapped memory). */
  close(): void {
    if (this.mapped.length) this.native.unmapLog(this.mapped.buffer as ArrayBuffer);
    this.mapped = new Uint8Array(0);
  }
}
