// Naming a stretch of a log (entry numbers, marks, "until the next FUA") and checking it in
// one header pass before anything is written: a corrupt range fails here, not half-way
// through a replay.

import { Flag, flagNames } from './format.ts';
import type { Entry, LogReader, Position } from './reader.ts';
import { overlaps } from './replay.ts';
import { SectorMap, ZEROED } from './sector-map.ts';

/** A point in a log: an entry number, or the entry of a mark. */
export type Point = { readonly entry: number } | { readonly mark: string };

/** `123` or `mark:<name>`; undefined for anything else. */
export function parsePointText(text: string): Point | undefined {
  if (text.startsWith('mark:')) return { mark: text.slice(5) };
  if (/^\d+$/.test(text)) return { entry: Number(text) };
  return undefined;
}

export const pointText = (p: Point) => ('mark' in p ? `mark:${p.mark}` : String(p.entry));

/** Why a check or stop on entries with these flags never fired: `the range holds no FUA entry`. */
export const holdsNo = (flags: number, where = 'the range') => `${where} holds no ${flagNames(flags).split('|').join(' or ')} entry`;

export function isAt(p: Point, e: Entry): boolean {
  return 'mark' in p ? (e.flags & Flag.MARK) !== 0 && e.mark === p.mark : e.index === p.entry;
}

export interface RangeSpec {
  /** First entry (inclusive); the log's first entry when absent. */
  from?: Point;
  /** Last entry (inclusive); the log's last counted entry when absent. */
  to?: Point;
  /** At most this many entries. */
  limit?: number;
  /** End at the first entry with any of these flags. */
  until?: number;
  /** Only entries touching these device sectors take part. */
  sectors?: { start: number; end: number };
  /** Discards count (as zeros) unless false. */
  discards?: boolean;
  /**
   * The target's size in sectors: an entry reaching past it is refused (before anything is
   * written), or with `force` allowed; discards are cut to it either way, since nothing past
   * a target's end needs zeroing.
   */
  target?: { sectors: number; force?: boolean };
}

export interface ScannedRange {
  readonly start: Position;
  /** The last entry of the range; undefined when the range is empty. */
  readonly last?: Entry;
  readonly entries: number;
  /** Highest device sector the range writes or discards, or -1. */
  readonly highestSector: number;
  readonly payloadBytes: number;
  /** The last write of every sector in the range, when asked for. */
  readonly map?: SectorMap;
}

/** A point the range names is not in the log. */
export class RangeNotFound extends Error {}

/** An entry of the range reaches past the end of the target. */
export class PastTarget extends Error {
  constructor(
    readonly entry: Entry,
    readonly targetSectors: number,
  ) {
    super(`entry ${entry.index} at byte ${entry.offset} ${entry.flags & Flag.DISCARD ? 'discards' : 'writes'} sectors ${entry.sector}..${entry.sector + entry.nrSectors - 1}, past the end of the target (${targetSectors} sectors)`);
  }
}

/** Entry numbers that end a range before it starts are refused before any walk (marks may repeat, so only a walk can tell). */
export function checkOrder(from?: Point, to?: Point): void {
  if (from && to && 'entry' in from && 'entry' in to && to.entry < from.entry) throw new RangeNotFound(`the range ${from.entry}..${to.entry} ends before it starts`);
}

/** Walk the headers of the range once: where it starts, where it ends, what it touches. */
export async function scanRange(reader: LogReader, spec: RangeSpec, buildMap = false): Promise<ScannedRange> {
  checkOrder(spec.from, spec.to);
  const map = buildMap ? new SectorMap(reader.sectorSize) : undefined;
  let start: Position | undefined = spec.from ? undefined : reader.first;
  let last: Entry | undefined;
  let entries = 0;
  let highestSector = -1;
  let payloadBytes = 0;
  for await (const e of reader.entries()) {
    if (!start) {
      if (!isAt(spec.from!, e)) continue;
      start = { index: e.index, offset: e.offset };
    }
    entries++;
    last = e;
    const discard = (e.flags & Flag.DISCARD) !== 0;
    const touches = e.nrSectors > 0 && overlaps(e, spec.sectors) && (spec.discards !== false || !discard);
    if (touches) {
      let nrSectors = e.nrSectors;
      const t = spec.target;
      if (t && e.sector + nrSectors > t.sectors) {
        if (!t.force) throw new PastTarget(e, t.sectors);
        if (discard) nrSectors = Math.max(0, t.sectors - e.sector);
      }
      highestSector = Math.max(highestSector, e.sector + nrSectors - 1);
      payloadBytes += e.payloadLength;
      map?.set(e.sector, nrSectors, discard ? ZEROED : e.payloadOffset);
    }
    if ((spec.to && isAt(spec.to, e)) || entries === spec.limit || (spec.until && e.flags & spec.until)) break;
  }
  if (!start) throw new RangeNotFound(`${pointText(spec.from!)} is not in the log`);
  if (spec.to && !(last && isAt(spec.to, last))) throw new RangeNotFound(`${pointText(spec.to)} is not in the log${spec.from ? ` after ${pointText(spec.from)}` : ''}`);
  return { start, entries, highestSector, payloadBytes, ...(last ? { last } : {}), ...(map ? { map } : {}) };
}
