// File-system answers for the entries of a log, without a replayed image: the device state
// at a point is the log's own sector map (which log bytes each sector holds there), read
// through a ByteSource, so an annotator reads only the metadata it needs from the log.
//
// Which state annotates an entry: the one at the first mark at or after it (the end of the
// log when no mark follows). Marks are where a workload synced, so the file system's
// metadata names the blocks the entry wrote; an earlier state may not have them allocated
// yet, a later one may have freed them. Self-describing blocks (a JBD2 block, an xfs log
// record, a btrfs tree block) are decoded from the entry's own bytes instead, and a JBD2
// copy is matched with the descriptor written in the same flush epoch (between the same two
// FLUSH entries), which names its home block.

import { Flag } from '../format.ts';
import type { ByteSource, Entry, LogReader } from '../reader.ts';
import { SectorMap, UNTOUCHED, ZEROED } from '../sector-map.ts';
import { annotate } from './detect.ts';
import { newContext, type Annotator, type Piece, type WriteContext } from './what.ts';

/** The device as a sector map says it is: sectors' bytes from the log, zeros elsewhere. */
export function mapSource(reader: LogReader, map: SectorMap): ByteSource {
  const S = reader.sectorSize;
  return {
    size: Number.MAX_SAFE_INTEGER,
    async read(offset, length) {
      const out = new Uint8Array(length);
      const first = Math.floor(offset / S);
      const end = Math.ceil((offset + length) / S);
      for (let s = first; s < end; ) {
        const src = map.get(s);
        let run = 1;
        if (src !== UNTOUCHED && src !== ZEROED) while (s + run < end && map.get(s + run) === src + run * S) run++;
        else while (s + run < end && (map.get(s + run) === UNTOUCHED || map.get(s + run) === ZEROED)) run++;
        if (src !== UNTOUCHED && src !== ZEROED) {
          const bytes = await reader.source.read(src, run * S);
          // Device bytes [s*S, (s+run)*S) clipped to [offset, offset+length).
          const lo = Math.max(offset, s * S);
          const hi = Math.min(offset + length, (s + run) * S);
          out.set(bytes.subarray(lo - s * S, hi - s * S), lo - offset);
        }
        s += run;
      }
      return out;
    },
  };
}

/** The state after entry `last` (inclusive) as a sector map. */
export async function stateAt(reader: LogReader, last: number): Promise<SectorMap> {
  const map = new SectorMap(reader.sectorSize);
  for await (const e of reader.entries()) {
    if (e.index > last) break;
    record(map, e);
  }
  return map;
}

function record(map: SectorMap, e: Entry): void {
  if (e.nrSectors) map.set(e.sector, e.nrSectors, e.flags & Flag.DISCARD ? ZEROED : e.payloadOffset);
}

export interface AnnotatedEntry {
  readonly entry: Entry;
  /** Device bytes [start, end) the answers cover (the entry's sectors, or the part asked for). */
  readonly pieces: readonly Piece[];
  /** The file system of the annotating state (undefined when none was recognised). */
  readonly fs?: Annotator['fs'];
  /** The entry whose state annotated this one (a mark, or the log's last entry). */
  readonly state: number;
}

export interface AnnotateOptions {
  /** Device bytes of an entry to describe (default: all it wrote or discarded). */
  range?: (e: Entry) => readonly [number, number] | undefined;
  /** Also entries past nr_entries (as `list --past-end` shows them). */
  pastEnd?: boolean;
  /** Called with each state's annotator as it is built (benchmarks count them). */
  built?: (a: Annotator | undefined, at: number) => void;
}

interface Written {
  readonly entry: Entry;
  readonly epoch: number;
}

/**
 * Annotate `wanted` (entries of `reader`, ascending by index) in one walk of the log, each
 * in the state at the first mark at or after it. Yields in the order given.
 */
export async function* annotateEntries(reader: LogReader, wanted: readonly Entry[], opts: AnnotateOptions = {}): AsyncGenerator<AnnotatedEntry> {
  if (!wanted.length) return;
  const S = reader.sectorSize;
  const map = new SectorMap(S);
  const rangeOf = opts.range ?? ((e: Entry) => (e.nrSectors ? ([e.sector * S, (e.sector + e.nrSectors) * S] as const) : undefined));
  let next = 0;
  let epoch = 0;
  let since: Written[] = [];
  let last: Entry | undefined;
  const settle = async function* (at: number): AsyncGenerator<AnnotatedEntry> {
    const pending: Written[] = [];
    for (const w of since) if (next + pending.length < wanted.length && w.entry.index === wanted[next + pending.length]!.index) pending.push(w);
    const annotator = await annotate(mapSource(reader, map));
    opts.built?.(annotator, at);
    const contexts = annotator ? await learnEpochs(reader, annotator, since, pending) : new Map<number, WriteContext>();
    for (const w of pending) {
      next++;
      const range = rangeOf(w.entry);
      if (!annotator || !range) {
        yield { entry: w.entry, pieces: [], ...(annotator && { fs: annotator.fs }), state: at };
        continue;
      }
      const [start, end] = range;
      const bytes = written(w.entry) && annotator.needsBytes(start, end) ? await payloadPart(reader, w.entry, start, end) : undefined;
      const pieces = await annotator.what(start, end, bytes, contexts.get(w.epoch));
      yield { entry: w.entry, pieces, fs: annotator.fs, state: at };
    }
    since = [];
  };
  for await (const e of reader.entries({ pastEnd: opts.pastEnd ?? false })) {
    record(map, e);
    last = e;
    since.push({ entry: e, epoch });
    if (e.flags & Flag.FLUSH) epoch++;
    if (e.flags & Flag.MARK && since.some((w) => next < wanted.length && w.entry.index >= wanted[next]!.index)) yield* settle(e.index);
    else if (e.flags & Flag.MARK) since = [];
    if (next >= wanted.length) return;
  }
  if (last) yield* settle(last.index);
}

const written = (e: Entry) => e.payloadLength > 0 && !(e.flags & Flag.DISCARD);

/** The entry's payload bytes for device bytes [start, end) (within what it wrote). */
async function payloadPart(reader: LogReader, e: Entry, start: number, end: number): Promise<Uint8Array> {
  const S = reader.sectorSize;
  const from = e.payloadOffset + (start - e.sector * S);
  return reader.source.read(from, end - start);
}

/** What the writes of each epoch that holds a wanted entry tell about each other (JBD2 tags). */
async function learnEpochs(reader: LogReader, annotator: Annotator, since: readonly Written[], pending: readonly Written[]): Promise<Map<number, WriteContext>> {
  const contexts = new Map<number, WriteContext>();
  if (!annotator.learn) return contexts;
  const S = reader.sectorSize;
  const epochs = new Set(pending.map((w) => w.epoch));
  for (const w of since) {
    const e = w.entry;
    if (!epochs.has(w.epoch) || !written(e)) continue;
    const start = e.sector * S;
    if (!annotator.needsBytes(start, start + e.payloadLength)) continue;
    let ctx = contexts.get(w.epoch);
    if (!ctx) contexts.set(w.epoch, (ctx = newContext()));
    annotator.learn(start, await payloadPart(reader, e, start, start + e.payloadLength), ctx);
  }
  return contexts;
}
