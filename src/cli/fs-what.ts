// `--fs` for list, blame and diff: what each entry or change is to the file system on the
// device (see src/fs/log-state.ts for which device state answers).

import type { ChangedRange } from '../diff.ts';
import { annotate } from '../fs/detect.ts';
import { annotateEntries, mapSource, stateAt, type AnnotatedEntry } from '../fs/log-state.ts';
import { describeRanges, piecesJson, summarize, whatText, type GroupSummary } from '../fs/summary.ts';
import type { Piece } from '../fs/what.ts';
import type { Entry, LogReader } from '../reader.ts';

export { piecesJson, summaryText, whatText } from '../fs/summary.ts';

export const FS_OPTION = [
  '--fs',
  'say what each write is to the file system on the device (ext4, xfs, btrfs)',
] as const;

export interface EntryWhat {
  readonly entry: Entry;
  /** Absent without --fs. */
  readonly fs?: { readonly text: string; readonly json: Record<string, unknown> };
}

function entryWhat(a: AnnotatedEntry): EntryWhat {
  const text = a.fs ? whatText(a.pieces) : 'no file system recognised';
  return { entry: a.entry, fs: { text, json: { fs: a.fs ?? null, fsState: a.state, fsWhat: piecesJson(a.pieces) } } };
}

/** The entries, annotated with --fs (in one extra walk of the log), else passed through. */
export async function* withFs(
  reader: LogReader,
  entries: AsyncIterable<Entry>,
  fs: boolean | undefined,
  pastEnd = false,
  range?: (e: Entry) => readonly [number, number],
): AsyncGenerator<EntryWhat> {
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
    for await (const e of reader.entries())
      if (e.nrSectors && sector >= e.sector && sector < e.sector + e.nrSectors) yield e;
  }
  return withFs(reader, touching(), fs, false, () => [sector * S, (sector + 1) * S]);
}

/** What each changed range is in the state at `b`, and the changes grouped by file and structure. */
export async function diffWhat(
  reader: LogReader,
  b: number,
  ranges: readonly ChangedRange[],
): Promise<{ fs: string | null; ranges: Piece[][]; summary: GroupSummary[] }> {
  const S = reader.sectorSize;
  const source = mapSource(reader, await stateAt(reader, b));
  const annotator = await annotate(source);
  if (!annotator) return { fs: null, ranges: ranges.map(() => []), summary: [] };
  const all = await describeRanges(
    annotator,
    source,
    ranges.map((r) => [r.sector * S, (r.sector + r.nrSectors) * S] as const),
  );
  return { fs: annotator.fs, ranges: all, summary: summarize(all.flat(), annotator.blockSize) };
}
