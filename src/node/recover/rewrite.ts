// `recover --write`: rewriting a crashed log's nr_entries in place, the old super sector
// saved first (never over an existing file) and the result read back.

import * as fs from 'node:fs';
import { LogReader } from '../../reader.ts';
import { superWithCount, type Recovery } from '../../recover.ts';
import { openSource } from '../io/file.ts';
import { RewriteError } from '../../errors.ts';

/** Save the super sector to `backup` (never over an existing file), then rewrite it in place. */
function rewriteSuper(logPath: string, r: Recovery, backup: string): void {
  const src = openSource(logPath);
  const isBlock = src.info.isBlockDevice;
  src.close();
  let fd: number;
  try {
    // O_EXCL on a block device fails while the kernel (a live dm target, a mount) holds it.
    fd = fs.openSync(logPath, fs.constants.O_RDWR | (isBlock ? fs.constants.O_EXCL : 0));
  } catch (e) {
    throw new RewriteError(`cannot open ${logPath} for writing: ${(e as Error).message}`);
  }
  try {
    const original = Buffer.alloc(r.sectorSize);
    if (fs.readSync(fd, original, 0, r.sectorSize, 0) !== r.sectorSize)
      throw new RewriteError(`cannot read the super of ${logPath}`);
    try {
      fs.writeFileSync(backup, original, { flag: 'wx' });
    } catch (e) {
      const exists = (e as NodeJS.ErrnoException).code === 'EEXIST';
      throw new RewriteError(
        exists
          ? `backup ${backup} already exists: move it away or give --backup <path>`
          : `cannot write backup ${backup}: ${(e as Error).message}`,
      );
    }
    const bfd = fs.openSync(backup, 'r');
    fs.fsyncSync(bfd);
    fs.closeSync(bfd);
    fs.writeSync(fd, superWithCount(original, r.validEntries), 0, r.sectorSize, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Read the rewritten log back: every counted entry must now walk cleanly. */
async function verify(logPath: string, want: number): Promise<void> {
  const src = openSource(logPath);
  try {
    const reader = await LogReader.open(src);
    let n = 0;
    for await (const b of reader.batches({ payloads: true })) n += b.entries.length;
    if (reader.nrEntries !== want || n !== want)
      throw new RewriteError(
        `after rewriting, ${logPath} counts ${reader.nrEntries} and walks ${n} entries, not ${want}`,
      );
  } finally {
    src.close();
  }
}

/**
 * Make the super of `logPath` count exactly the valid entries `r` found (recover()), saving
 * the old super sector to `backup` first, then check that the log now walks as it counts.
 */
export async function rewriteCount(logPath: string, r: Recovery, backup: string): Promise<void> {
  rewriteSuper(logPath, r, backup);
  await verify(logPath, r.validEntries);
}
