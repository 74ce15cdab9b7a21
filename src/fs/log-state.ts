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
import { Advance, type ByteSource, type Entry, type LogReader } from '../reader.ts';
import { contentSource, SectorMap, UNTOUCHED, ZEROED } from '../replay/sector-map.ts';
import { lowerBound } from '../explore/cursor.ts';
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
          // Device bytes [s*S, (s+run)*S) clipped to [offset, offset+length).
          const lo = Math.max(offset, s * S);
          const hi = Math.min(offset + length, (s + run) * S);
          const from = src + (lo - s * S);
          if (reader.source.readInto) reader.source.readInto(from, out.subarray(lo - offset, hi - offset));
          else out.set(await reader.source.read(from, hi - lo), lo - offset);
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

function record(map: SectorMap, e: Pick<Entry, 'sector' | 'nrSectors' | 'flags' | 'payloadOffset'>): void {
  if (e.nrSectors) map.set(e.sector, e.nrSectors, contentSource(e));
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

/** A write since the last state, kept small: what learning from its payload needs. */
interface Written {
  readonly index: number;
  readonly sector: number;
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/**
 * Annotate `wanted` (entries of `reader`, ascending by index) in one walk of the log, each
 * in the state at the first mark at or after it. Yields in the order given.
 */
export async function* annotateEntries(
  reader: LogReader,
  wanted: readonly Entry[],
  opts: AnnotateOptions = {},
): AsyncGenerator<AnnotatedEntry> {
  if (!wanted.length) return;
  const S = reader.sectorSize;
  const map = new SectorMap(S);
  const rangeOf =
    opts.range ?? ((e: Entry) => (e.nrSectors ? ([e.sector * S, (e.sector + e.nrSectors) * S] as const) : undefined));
  /** Indices of the FLUSH entries: an entry's epoch is how many come before it. */
  const flushes: number[] = [];
  const epochOf = (index: number) => lowerBound(flushes, index);
  let next = 0;
  let since: Written[] = [];
  const settle = async function* (at: number): AsyncGenerator<AnnotatedEntry> {
    let end = next;
    while (end < wanted.length && wanted[end]!.index <= at) end++;
    const pending = wanted.slice(next, end);
    const annotator = await annotate(mapSource(reader, map));
    opts.built?.(annotator, at);
    // Payloads read to learn from are kept for the answers (journal writes are small).
    const payloads = new Map<number, Uint8Array>();
    const contexts = annotator?.learn
      ? await learnEpochs(reader, annotator, since, new Set(pending.map((e) => epochOf(e.index))), epochOf, payloads)
      : new Map<number, WriteContext>();
    for (const e of pending) {
      next++;
      const range = rangeOf(e);
      if (!annotator || !range) {
        yield { entry: e, pieces: [], ...(annotator && { fs: annotator.fs }), state: at };
        continue;
      }
      const [start, end] = range;
      const kept = payloads.get(e.index);
      const base = e.sector * S;
      const bytes = kept
        ? kept.subarray(start - base, end - base)
        : written(e) && annotator.needsBytes(start, end)
          ? await payloadPart(reader, e, start, end)
          : undefined;
      const pieces = await annotator.what(start, end, bytes, contexts.get(epochOf(e.index)));
      yield { entry: e, pieces, fs: annotator.fs, state: at };
    }
    since = [];
  };
  // A cursor walk: nothing is allocated per entry but the writes kept for learning.
  const c = reader.cursor({ pastEnd: opts.pastEnd ?? false });
  let last = -1;
  for (;;) {
    const step = c.advance();
    if (step === Advance.Read) {
      await c.fill();
      continue;
    }
    if (step === Advance.End) break;
    record(map, c);
    last = c.index;
    if (written(c))
      since.push({ index: c.index, sector: c.sector, payloadOffset: c.payloadOffset, payloadLength: c.payloadLength });
    if (c.flags & Flag.FLUSH) flushes.push(c.index);
    if (c.flags & Flag.MARK) {
      if (wanted[next]!.index <= c.index) yield* settle(c.index);
      else since = [];
    }
    if (next >= wanted.length) return;
  }
  if (last >= 0 && next < wanted.length) yield* settle(last);
}

const written = (e: Pick<Entry, 'payloadLength' | 'flags'>) => e.payloadLength > 0 && !(e.flags & Flag.DISCARD);

/** The entry's payload bytes for device bytes [start, end) (within what it wrote). */
async function payloadPart(
  reader: LogReader,
  e: Pick<Entry, 'sector' | 'payloadOffset'>,
  start: number,
  end: number,
): Promise<Uint8Array> {
  const S = reader.sectorSize;
  const from = e.payloadOffset + (start - e.sector * S);
  return reader.source.read(from, end - start);
}

/** What the writes of the wanted epochs tell about each other (JBD2 tags), payloads kept. */
async function learnEpochs(
  reader: LogReader,
  annotator: Annotator,
  since: readonly Written[],
  epochs: ReadonlySet<number>,
  epochOf: (index: number) => number,
  payloads: Map<number, Uint8Array>,
): Promise<Map<number, WriteContext>> {
  const contexts = new Map<number, WriteContext>();
  const S = reader.sectorSize;
  for (const w of since) {
    const epoch = epochOf(w.index);
    const start = w.sector * S;
    if (!epochs.has(epoch) || !annotator.needsBytes(start, start + w.payloadLength)) continue;
    let ctx = contexts.get(epoch);
    if (!ctx) contexts.set(epoch, (ctx = newContext()));
    const bytes = await payloadPart(reader, w, start, start + w.payloadLength);
    payloads.set(w.index, bytes);
    annotator.learn!(start, bytes, ctx);
  }
  return contexts;
}
