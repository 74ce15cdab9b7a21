// Replay to a point by writing only what the point holds: the last version of every sector
// the range touched, in device order, merged into large sequential writes. Overwritten
// versions are never read or written, so a log that rewrites its sectors often costs a
// fraction of entry-by-entry replay.

import { LogFormatError } from './format.ts';
import type { LogReader } from './reader.ts';
import type { ReplayTarget } from './replay.ts';
import { ZEROED, type SectorMap } from './sector-map.ts';

/** Largest single write the plan issues (bigger runs are split). */
const MAX_RUN = 8 * 1024 * 1024;

export interface LastWriteResult {
  readonly bytesWritten: number;
  readonly bytesZeroed: number;
  /** False when `shouldStop` cut it short. */
  readonly complete: boolean;
}

export async function replayLastWrites(reader: LogReader, target: ReplayTarget, map: SectorMap, shouldStop: () => boolean | Promise<boolean> = () => false): Promise<LastWriteResult> {
  const S = reader.sectorSize;
  let parts: Uint8Array[] = [];
  let runStart = 0;
  let runEnd = 0;
  let bytesWritten = 0;
  let bytesZeroed = 0;
  const flush = async () => {
    if (parts.length) await target.write(runStart, parts);
    parts = [];
  };
  for (const x of map.extents()) {
    if (await shouldStop()) {
      await flush();
      await target.sync();
      return { bytesWritten, bytesZeroed, complete: false };
    }
    const at = x.sector * S;
    const length = x.nrSectors * S;
    if (x.source === ZEROED) {
      await flush();
      await target.zero(at, length);
      bytesZeroed += length;
      continue;
    }
    for (let done = 0; done < length; ) {
      const piece = Math.min(MAX_RUN, length - done);
      const bytes = await reader.source.read(x.source + done, piece);
      if (bytes.length < piece) {
        throw new LogFormatError(x.source + done + bytes.length, `truncated payload: log ends inside the data of device sector ${x.sector + done / S}`, undefined, 'truncated-payload');
      }
      if (parts.length && (runEnd !== at + done || runEnd - runStart + piece > MAX_RUN)) await flush();
      if (!parts.length) runStart = at + done;
      parts.push(bytes);
      runEnd = at + done + piece;
      done += piece;
      bytesWritten += piece;
    }
  }
  await flush();
  await target.sync();
  return { bytesWritten, bytesZeroed, complete: true };
}
