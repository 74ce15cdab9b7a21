// replay-log's fast path: replay by the last-write plan (src/replay/last-write.ts) where that leaves
// the target byte for byte as upstream's entry-by-entry replay does. That holds when a
// discard reads back as zeros, so that the order of discards and writes does not matter:
// regular files (zeros or a punched hole) and loop devices (a discard punches a hole in the
// backing file). Elsewhere (dm-thin, disks: a partial discard may keep old data) and with
// --fsck, upstream's order is kept. xfstests replays from entry 0 at every FUA, so a call
// that writes only the last version of each sector, and discards only what ends up
// discarded, rewrites the device's blocks in place instead of punching and refilling them.

import * as fs from 'node:fs';
import { Flag } from '../../format.ts';
import { replayLastWrites } from '../../replay/last-write.ts';
import { Advance, type Position } from '../../reader.ts';
import type { EntryView, KnownEntries } from '../../entry-index/known.ts';
import { overlaps } from '../../replay/loop.ts';
import { contentSource, SectorMap } from '../../replay/sector-map.ts';
import { sysfsBlock } from '../io/device-info.ts';
import { keepMappedFor } from '../io/file.ts';
import type { FileTarget } from '../io/target.ts';
import { LogFormatError } from '../../errors.ts';

/** Whether a discard on the target reads back as zeros (see the top of this file). */
export function discardsReadAsZeros(target: FileTarget): boolean {
  return !target.info.isBlockDevice || fs.existsSync(`${sysfsBlock(target.info.rdev)}/loop`);
}

export interface PlanOptions {
  from: Position;
  discards: boolean;
  sectors: { start: number; end: number };
  /** Called for every entry in log order, as the sequential replay calls it. */
  before: (entry: EntryView, applies: boolean) => void;
  /** After the n-th entry (counting from 1): whether it is the last one. */
  stop: (entry: EntryView, n: number) => boolean;
  /** Called before each write of the plan; what it throws ends the replay there. */
  beforeWrite?: () => void;
}

/** What the plan covered: like the sequential replay's visits. */
export interface Planned {
  /** Entries visited. */
  readonly entries: number;
  /** Whether `stop` ended it (else the log did). */
  readonly stopped: boolean;
  /** Where the walk would go on: the entry after the last one. */
  readonly end: Position;
}

/**
 * The last version of every sector the range touches, or undefined when the range has
 * anything the sequential replay reports as it meets it (a malformed entry, a truncated
 * payload, an entry past the target's end): that replay then runs instead, with upstream's
 * output up to the problem.
 */
async function plan(
  known: KnownEntries,
  target: FileTarget,
  o: PlanOptions,
): Promise<(Planned & { map: SectorMap }) | undefined> {
  const reader = known.reader;
  const S = reader.sectorSize;
  const map = new SectorMap(S);
  const c = known.cursor(o.from, { readAhead: true });
  try {
    for (let n = 1; ; n++) {
      let step = c.advance();
      while (step === Advance.Read) {
        await c.fill();
        step = c.advance();
      }
      if (step === Advance.End) return { map, entries: n - 1, stopped: false, end: c.position };
      const discard = (c.flags & Flag.DISCARD) !== 0;
      const applies = c.nrSectors !== 0 && overlaps(c, o.sectors) && (o.discards || !discard);
      o.before(c, applies);
      if (applies) {
        if (target.size !== undefined && (c.sector + c.nrSectors) * S > target.size) return undefined;
        if (c.payloadOffset + c.payloadLength > reader.source.size) return undefined;
        map.set(c.sector, c.nrSectors, contentSource(c));
      }
      if (o.stop(c, n)) return { map, entries: n, stopped: true, end: c.position };
    }
  } catch (e) {
    if (e instanceof LogFormatError) return undefined;
    throw e;
  }
}

/**
 * Replay by the last-write plan; undefined (nothing written, `before` calls to be forgotten)
 * when the sequential replay must run instead.
 */
export async function replayLogLastWrites(
  known: KnownEntries,
  target: FileTarget,
  o: PlanOptions,
): Promise<Planned | undefined> {
  keepMappedFor(known.reader.source, target.info);
  const planned = await plan(known, target, o);
  if (!planned) return undefined;
  await replayLastWrites(known.reader, target, planned.map, () => {
    o.beforeWrite?.();
    return false;
  });
  return { entries: planned.entries, stopped: planned.stopped, end: planned.end };
}
