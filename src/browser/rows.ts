// Which entries the table and the plot show: a filter turns the index into a sorted list of
// entry numbers, computed in one pass over the columns.

import { Flag } from '../format.ts';
import { parsePointText, touchesSectors } from '../range.ts';
import { pointEntry, type LogIndex } from '../entry-index/log-index.ts';
import { RangeNotFound } from '../errors.ts';

export interface RowFilter {
  /** Entries carrying any of these flag bits (0 or absent: no flag filter). */
  readonly flags?: number;
  /** Entries with no flag bit set at all (plain writes); combined with `flags` by "or". */
  readonly plain?: boolean;
  /** Inclusive entry range. */
  readonly from?: number;
  readonly to?: number;
  /** Entries whose sectors overlap [start, end] (inclusive, log sectors); zero-length ones never do. */
  readonly sectors?: { readonly start: number; readonly end: number };
  /** Marks whose text contains this (case-insensitive). */
  readonly markText?: string;
}

/** The rows shown: every entry (null) or the matching entry numbers in ascending order. */
export type Rows = Uint32Array | null;

export function isEmptyFilter(f: RowFilter): boolean {
  return !f.flags && !f.plain && f.from === undefined && f.to === undefined && !f.sectors && !f.markText;
}

export function filterRows(index: LogIndex, f: RowFilter): Rows {
  if (isEmptyFilter(f)) return null;
  const from = Math.max(0, f.from ?? 0);
  const to = Math.min(index.count - 1, f.to ?? index.count - 1);
  const { flags, sector, nrSectors } = index;
  const wantFlags = f.flags ?? 0;
  const anyFlag = wantFlags !== 0 || !!f.plain;
  const markOk = markMatcher(index, f.markText);
  const out = new Uint32Array(Math.max(0, to - from + 1));
  let n = 0;
  for (let i = from; i <= to; i++) {
    const fl = flags[i]!;
    if (anyFlag && !(fl & wantFlags) && !(f.plain && fl === 0)) continue;
    if (f.sectors && !touchesSectors(sector[i]!, nrSectors[i]!, f.sectors)) continue;
    if (markOk && !markOk(i, fl)) continue;
    out[n++] = i;
  }
  return out.slice(0, n);
}

function markMatcher(index: LogIndex, text?: string): ((i: number, flags: number) => boolean) | undefined {
  if (!text) return undefined;
  const needle = text.toLowerCase();
  const hits = new Set(index.marks.filter((m) => m.text.toLowerCase().includes(needle)).map((m) => m.index));
  return (i, flags) => (flags & Flag.MARK) !== 0 && hits.has(i);
}

export function rowCount(index: LogIndex, rows: Rows): number {
  return rows ? rows.length : index.count;
}

/** Entry number shown at row `r`. */
export function entryAt(rows: Rows, r: number): number {
  return rows ? rows[r]! : r;
}

/** The row showing entry `entry`, or the row of the next entry shown after it. */
export function rowOf(rows: Rows, entry: number): number {
  if (!rows) return entry;
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]! < entry) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Parse an entry bound typed by the user: a number, or `mark:NAME` (or just a mark's name). */
export function parseEntryBound(index: LogIndex, text: string): number | undefined {
  const t = text.trim();
  if (!t) return undefined;
  const p = parsePointText(t) ?? { mark: t };
  const i = pointEntry(index, p);
  if (i < 0) throw new RangeNotFound(`no entry number or mark named '${t.replace(/^mark:/, '')}'`);
  return i;
}
