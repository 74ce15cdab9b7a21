// The data device behind serve's export: requests pass through to a file or device, and the
// LogWriter hears of each one, so that the log holds what dm-log-writes would have logged.

import type * as fs from 'node:fs';
import type { LogWriter, Io, LogDevice, Pending } from '../../writer.ts';
import { readFull, writeFull, writevFull } from '../io/full-io.ts';
import { writeZerosTo, zeroParts } from '../io/zeroing.ts';
import type { NbdBackend } from '../nbd/transmission.ts';

/** Dirty bytes after which data and staged log are synced in the background (see writeback). */
const WRITEBACK_BYTES = 64 << 20;

/** The log as LogWriter writes it: positional vectored writes and a datasync. */
export function fileLog(fh: fs.promises.FileHandle): LogDevice {
  return { write: (offset, parts) => writevFull(fh, parts, offset), sync: () => fh.datasync() };
}

/** The data device behind the export: IO passes through, LogWriter hears of every write. */
export class LoggedDisk implements NbdBackend {
  private readonly S: number;
  private dirty = 0;
  private writingBack = false;

  constructor(
    private readonly data: fs.promises.FileHandle,
    readonly writer: LogWriter,
  ) {
    this.S = writer.sectorSize;
  }

  /** Pass a request through with `pass`, then tell the writer how it went. */
  private async through(io: Io, pass: () => Promise<void>, fua: boolean): Promise<void> {
    const p: Pending = this.writer.issue(io);
    try {
      await pass();
      if (io.kind === 'write') this.writeback(io.data.reduce((n, d) => n + d.length, 0));
      // A flush will log the staged writes: sync them alongside the data.
      if (fua) await Promise.all([this.data.datasync(), io.kind === 'flush' && this.writer.syncStaged()]);
    } catch (e) {
      this.writer.cancel(p);
      throw e;
    }
    await this.writer.complete(p);
  }

  /**
   * Start syncing data and staged log early once much is dirty, so that a flush after a long
   * stream of writes finds the disk mostly caught up instead of writing everything at once.
   * Durability promises are unchanged: only flushes and FUA writes promise anything.
   */
  private writeback(bytes: number): void {
    this.dirty += bytes;
    if (this.dirty < WRITEBACK_BYTES || this.writingBack) return;
    this.dirty = 0;
    this.writingBack = true;
    void Promise.all([this.data.datasync(), this.writer.syncStaged()])
      .catch(() => undefined)
      .finally(() => (this.writingBack = false));
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return readFull(this.data, length, offset);
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    return this.through(
      { kind: 'write', sector: offset / this.S, data: [data], fua },
      () => writeFull(this.data, data, offset),
      fua,
    );
  }

  flush(): Promise<void> {
    return this.through({ kind: 'flush' }, async () => {}, true);
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    // The data device reads zeros after a discard, so a replay (discards as zeros) matches it.
    const io: Io = { kind: 'discard', sector: offset / this.S, nrSectors: length / this.S, fua };
    return this.through(io, () => writeZerosTo(this.data, offset, length), fua);
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    // Logged as a write of zeros, as QEMU's blklogwrites does.
    const io: Io = { kind: 'write', sector: offset / this.S, data: zeroParts(length), fua };
    return this.through(io, () => writeZerosTo(this.data, offset, length), fua);
  }
}
