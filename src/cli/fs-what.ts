// `--fs` for list, blame and diff: what each entry or change is to the file system on the
// device (see src/fs/log-state.ts for which device state answers).

import type { ChangedRange } from '../diff.ts';
import { annotate } from '../fs/detect.ts';
import { annotateEntries, mapSource, stateAt, type AnnotatedEntry } from '../fs/log-state.ts';
import { newContext, type Piece } from '../fs/what.ts';
import { readAt } from '../fs/bytes.ts';
import type { Entry, LogReader } from '../reader.ts';

export const FS_OPTION = ['--fs', 'say what each write is to the file system on the device (ext4, xfs, btrfs)'] as const;

/** The piece texts of an answer, each once, in device order. */
export function whatText(pieces: readonly Piece[]): string {
  const texts = [...new Set(pieces.map((p) => p.what.text))];
  return texts.length > 6 ? `${texts.slice(0, 6).join('; ')}; +${texts.length - 6} more` : texts.join('; ');
}

export function piecesJson(pieces: readonly Piece[]) {
  return pieces.map((p) => ({ offset: p.start, length: p.end - p.start, ...p.what }));
}

export interface EntryWhat {
  readonly entry: Entry;
  /** Absent without --fs. */
  readonly fs?: { readonly text: string; readonly json: Record<string, unknown> };
}

function entryWhat(a: AnnotatedEntry): EntryWhat {
  const text = a.fs ? whatText(a.pieces) : 'no file system recognised';
  return { entry: a.entry, fs: { text, json: { fs: a.fs ?? null, fsState: a.state, what: piecesJson(a.pieces) } } };
}

/** The entries, annotated with --fs (in one extra walk of the log), else passed through. */
export async function* withFs(reader: LogReader, entries: AsyncIterable<Entry>, fs: boolean | undefined, pastEnd = false, range?: (e: Entry) => readonly [number, number]): AsyncGenerator<EntryWhat> {
  if (!fs) {
    for await (const entry of entries) yield { entry };
    return;
  }
  const wanted: Entry[] = [];
  for await (const e of entries) wanted.push(e);
  for await (const a of annotateEntries(reader, wanted, { pastEnd, ...(range && { range }) })) yield entryWhat(a);
}

/** Entries that wrote or discarded `sector`, with what that sector was to the file system. */
export function blameRows(reader: LogReader, sector: number, fs: boolean | undefined): AsyncGenerator<EntryWhat> {
  const S = reader.sectorSize;
  async function* touching() {
    for await (const e of reader.entries()) if (e.nrSectors && sector >= e.sector && sector < e.sector + e.nrSectors) yield e;
  }
  return withFs(reader, touching(), fs, false, () => [sector * S, (sector + 1) * S]);
}

export interface GroupSummary {
  readonly group: string;
  readonly blocks: number;
  readonly unit: string;
  readonly inodes?: readonly number[];
}

/** What each changed range is in the state at `b`, and the changes grouped by file and structure. */
export async function diffWhat(reader: LogReader, b: number, ranges: readonly ChangedRange[]) {
  const S = reader.sectorSize;
  const map = await stateAt(reader, b);
  const annotator = await annotate(mapSource(reader, map));
  if (!annotator) return { fs: null, ranges: ranges.map(() => [] as Piece[]), summary: [] as GroupSummary[] };
  // Journal descriptors among the changes name the home blocks of the copies after them.
  const source = mapSource(reader, map);
  const context = newContext();
  const bytes = await Promise.all(ranges.map((r) => (annotator.needsBytes(r.sector * S, (r.sector + r.nrSectors) * S) ? readAt(source, r.sector * S, r.nrSectors * S) : undefined)));
  ranges.forEach((r, i) => bytes[i] && annotator.learn?.(r.sector * S, bytes[i], context));
  const all: Piece[][] = [];
  for (const [i, r] of ranges.entries()) all.push(await annotator.what(r.sector * S, (r.sector + r.nrSectors) * S, bytes[i], context));
  return { fs: annotator.fs, ranges: all, summary: summarize(all.flat(), annotator.blockSize) };
}

/** Pieces grouped: distinct blocks per group, and the inodes an inode-table change holds. */
export function summarize(pieces: readonly Piece[], blockSize: number): GroupSummary[] {
  const groups = new Map<string, { blocks: Set<number>; unit: string; inodes: Set<number> }>();
  for (const p of pieces) {
    const unit = p.what.class === 'data' ? 'data blocks' : p.what.class === 'directory' ? 'directory blocks' : 'blocks';
    let g = groups.get(p.what.group);
    if (!g) groups.set(p.what.group, (g = { blocks: new Set(), unit, inodes: new Set() }));
    for (let blk = Math.floor(p.start / blockSize); blk * blockSize < p.end; blk++) g.blocks.add(blk);
    if (p.what.inodes) for (let i = p.what.inodes[0]; i <= p.what.inodes[1]; i++) g.inodes.add(i);
  }
  return [...groups].map(([group, g]) => ({ group, blocks: g.blocks.size, unit: g.unit, ...(g.inodes.size && { inodes: [...g.inodes].sort((x, y) => x - y) }) }));
}

export function summaryText(s: readonly GroupSummary[]): string {
  return s.map((g) => `${g.group}: ${g.inodes ? `${g.inodes.length === 1 ? 'inode' : 'inodes'} ${runsText(g.inodes)}` : `${g.blocks} ${g.blocks === 1 ? g.unit.replace(/s$/, '') : g.unit}`}`).join('; ');
}

/** Ascending numbers as `1-4, 7, 9-10`. */
function runsText(sorted: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
