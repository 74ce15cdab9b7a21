// Naming a stretch of a log (entry numbers, marks, "until the next FUA") and checking it in
// one header pass before anything is written: a corrupt range fails here, not half-way
// through a replay.

import { Flag, flagNames } from './format.ts';
import { Advance, type Entry, type LogReader, type Position } from './reader.ts';
import { overlaps } from './replay/loop.ts';
import { contentSource, SectorMap } from './replay/sector-map.ts';
import { PastTarget, PointNotFound, RangeNotFound } from './errors.ts';

/**
 * A point in a log: an entry number, the entry of a mark (`nth`: its nth occurrence in the
 * log, for a repeated mark), or the last counted entry.
 */
export type Point =
  | { readonly entry: number }
  | { readonly mark: string; readonly nth?: number }
  | { readonly end: true };

/** `123`, `mark:<name>`, `mark:<name>#2` (the second such mark), `end`; undefined for anything else. */
export function parsePointText(text: string): Point | undefined {
  if (text === 'end') return { end: true };
  if (text.startsWith('mark:')) {
    const m = /^(.*)#(\d+)$/.exec(text.slice(5));
    const nth = Number(m?.[2]);
    return m && nth > 1 ? { mark: m[1]!, nth } : { mark: m && nth === 1 ? m[1]! : text.slice(5) };
  }
  if (/^\d+$/.test(text)) return { entry: Number(text) };
  return undefined;
}

export const pointText = (p: Point) =>
  'end' in p ? 'end' : 'mark' in p ? `mark:${p.mark}${p.nth ? `#${p.nth}` : ''}` : String(p.entry);

/**
 * Whether each entry of a walk from entry 0 is at `p`: to be called on every entry, in order
 * (a repeated mark's occurrences are counted). A plain mark matches each of its occurrences.
 */
export function pointFinder(p: Point, nrEntries: number): (e: Entry) => boolean {
  if ('end' in p) return (e) => e.index === nrEntries - 1;
  if ('entry' in p) return (e) => e.index === p.entry;
  let seen = 0;
  return (e) => (e.flags & Flag.MARK) !== 0 && e.mark === p.mark && (++seen === p.nth || p.nth === undefined);
}

/** Why a check or stop on entries with these flags never fired: `the range holds no FUA entry`. */
export const holdsNo = (flags: number, where = 'the range') =>
  `${where} holds no ${flagNames(flags).split('|').join(' or ')} entry`;

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

/** Entry numbers that end a range before it starts are refused before any walk (marks may repeat, so only a walk can tell). */
export function checkOrder(from?: Point, to?: Point): void {
  if (from && to && 'entry' in from && 'entry' in to && to.entry < from.entry)
    throw new RangeNotFound(`the range ${from.entry}..${to.entry} ends before it starts`);
}

/** Walk the headers of the range once: where it starts, where it ends, what it touches. */
export async function scanRange(reader: LogReader, spec: RangeSpec, buildMap = false): Promise<ScannedRange> {
  checkOrder(spec.from, spec.to);
  const map = buildMap ? new SectorMap(reader.sectorSize) : undefined;
  let start: Position | undefined = spec.from ? undefined : reader.first;
  let entries = 0;
  let highestSector = -1;
  let payloadBytes = 0;
  const atFrom = spec.from && pointFinder(spec.from, reader.nrEntries);
  const atTo = spec.to && pointFinder(spec.to, reader.nrEntries);
  let reachedTo = false;
  // The cursor, not entries(): no object and no await per entry (a 1.1 GiB log of 4 KiB
  // writes has 266k of them). It is the entry until its next advance.
  const e = reader.cursor({ reuseBuffer: true, readAhead: true });
  for (;;) {
    let step = e.advance();
    while (step === Advance.Read) {
      await e.fill();
      step = e.advance();
    }
    if (step === Advance.End) break;
    const isTo = atTo ? atTo(e) : false;
    if (!start) {
      if (!atFrom!(e)) continue;
      start = { index: e.index, offset: e.offset };
    }
    entries++;
    const discard = (e.flags & Flag.DISCARD) !== 0;
    const touches = e.nrSectors > 0 && overlaps(e, spec.sectors) && (spec.discards !== false || !discard);
    if (touches) {
      let nrSectors = e.nrSectors;
      const t = spec.target;
      if (t && e.sector + nrSectors > t.sectors) {
        if (!t.force) throw new PastTarget(e.snapshot(), { sectors: t.sectors });
        if (discard) nrSectors = Math.max(0, t.sectors - e.sector);
      }
      highestSector = Math.max(highestSector, e.sector + nrSectors - 1);
      payloadBytes += e.payloadLength;
      map?.set(e.sector, nrSectors, contentSource(e));
    }
    reachedTo = isTo;
    if (isTo || entries === spec.limit || (spec.until && e.flags & spec.until)) break;
  }
  // Where the walk ended, the cursor still holds the last entry it reached.
  const last = entries ? e.snapshot() : undefined;
  if (!start) throw new RangeNotFound(`${pointText(spec.from!)} is not in the log`);
  if (spec.to && !reachedTo)
    throw new RangeNotFound(
      `${pointText(spec.to)} is not in the log${spec.from ? ` after ${pointText(spec.from)}` : ''}`,
    );
  return { start, entries, highestSector, payloadBytes, ...(last ? { last } : {}), ...(map ? { map } : {}) };
}

/** Whether an entry writing or discarding `nrSectors` from `sector` touches `range` (inclusive); zero-length entries never do. */
export const touchesSectors = (
  sector: number,
  nrSectors: number,
  range: { readonly start: number; readonly end: number },
) => nrSectors > 0 && sector + nrSectors > range.start && sector <= range.end;

/** Which entries a listing shows: `list`, `marks` and the viewer's table filter the same way. */
export interface EntryFilter {
  /** First entry (inclusive). */
  from?: Point;
  /** Last entry (inclusive): the walk ends there. */
  to?: Point;
  /** Only entries with any of these flags. */
  flags?: number;
  /** Only entries touching these device sectors (inclusive). */
  sectors?: { start: number; end: number };
}

/**
 * Entries within [from, to] that pass the filters, in log order (`pastEnd`: valid entries past
 * nr_entries too). A bound the log does not hold throws PointNotFound naming it, after the
 * entries before it were yielded.
 */
export async function* filterEntries(reader: LogReader, f: EntryFilter, pastEnd = false): AsyncGenerator<Entry> {
  checkOrder(f.from, f.to);
  let started = !f.from;
  const atFrom = f.from && pointFinder(f.from, reader.nrEntries);
  const atTo = f.to && pointFinder(f.to, reader.nrEntries);
  for await (const e of reader.entries({ pastEnd })) {
    const isFrom = atFrom ? atFrom(e) : false;
    const isTo = atTo ? atTo(e) : false;
    started ||= isFrom;
    if (started && (!f.flags || e.flags & f.flags) && (!f.sectors || touchesSectors(e.sector, e.nrSectors, f.sectors)))
      yield e;
    if (started && isTo) return;
  }
  if (f.from && !started) throw new PointNotFound(pointText(f.from), 'from');
  if (f.to) throw new PointNotFound(pointText(f.to), 'to');
}

/** The entry number a point names: a counted entry number at once, anything else by one header walk. */
export async function resolvePoint(reader: LogReader, p: Point): Promise<number> {
  if ('entry' in p && p.entry < reader.nrEntries) return p.entry;
  const at = pointFinder(p, reader.nrEntries);
  for await (const e of reader.entries()) if (at(e)) return e.index;
  throw new PointNotFound(pointText(p));
}
