// Moving a device between crash states by the bytes that differ, with an undo log.
//
// An epoch's writes cut the sectors they touch into segments, each covered by the same writes
// throughout. In a state a segment holds the last present write covering it, or the durable
// prefix's content ("base"). Moving from one state to another rewrites only the segments of
// the writes that changed, and only where the segment's owner changed; the first time a
// segment leaves base its base bytes go into the undo log, so going back costs what going
// forth did. Nothing is ever replayed from the start or copied whole, which is why the cursor
// does not go through the replay loop (replay/loop.ts): it moves between states of one epoch
// in any order, where the loop only runs forward from a position.

import type { Epoch, EpochWrite } from './epochs.ts';
import type { Included } from './state.ts';
import { BadArgument, truncatedPayload } from '../errors.ts';

/** Synchronous positional I/O on a device (a working image, or a fingerprint that only hashes). */
export interface Device {
  read(offset: number, length: number): Uint8Array;
  write(offset: number, data: Uint8Array): void;
  zero(offset: number, length: number): void;
}

/** Synchronous reads of log bytes (payloads). */
export interface SyncBytes {
  read(offset: number, length: number): Uint8Array;
}

interface Segment {
  readonly sector: number;
  readonly nrSectors: number;
  /** Writes covering it, in log order. */
  readonly writers: readonly number[];
}

interface Layout {
  readonly segments: readonly Segment[];
  /** Segments of each write. */
  readonly of: readonly (readonly number[])[];
}

const layouts = new WeakMap<Epoch, Layout>();

/** Cut the epoch's sectors at every write boundary; segments nobody writes are dropped. */
export function layoutOf(epoch: Epoch): Layout {
  const cached = layouts.get(epoch);
  if (cached) return cached;
  const cuts = [...new Set(epoch.writes.flatMap((w) => [w.sector, w.sector + w.nrSectors]))].sort((a, b) => a - b);
  const writers: number[][] = cuts.map(() => []);
  const of = epoch.writes.map((w, i) => {
    const mine: number[] = [];
    for (let j = lowerBound(cuts, w.sector); cuts[j]! < w.sector + w.nrSectors; j++) {
      writers[j]!.push(i);
      mine.push(j);
    }
    return mine;
  });
  // Renumber to the segments someone writes.
  const keep = new Int32Array(cuts.length).fill(-1);
  const segments: Segment[] = [];
  writers.forEach((ws, j) => {
    if (!ws.length) return;
    keep[j] = segments.length;
    segments.push({ sector: cuts[j]!, nrSectors: cuts[j + 1]! - cuts[j]!, writers: ws });
  });
  const layout = { segments, of: of.map((list) => list.map((j) => keep[j]!)) };
  layouts.set(epoch, layout);
  return layout;
}

/** How many of the ascending `sorted` are below `x`. */
export function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const BASE = -1;

export class Cursor {
  private epoch_: Epoch;
  private layout!: Layout;
  private included!: Included;
  /** Per segment: the write whose bytes it holds now, or BASE. */
  private owner!: Int32Array;
  /** Base bytes of segments that left base in this epoch. */
  private undo = new Map<number, Uint8Array>();
  /** Segments to revisit in the current move (a generation stamp saves clearing a set). */
  private stamp!: Uint32Array;
  private generation = 0;
  /** Bytes written to the device, for the curious. */
  bytesMoved = 0;

  /**
   * `epoch` is where the device is: at its durable prefix. `onDurable` hears of each epoch
   * the cursor leaves behind, after the device holds all of it.
   */
  constructor(
    private readonly device: Device,
    private readonly log: SyncBytes,
    private readonly sectorSize: number,
    epoch: Epoch,
    private readonly onDurable?: (epoch: Epoch) => void,
  ) {
    this.epoch_ = epoch;
    this.enter(epoch);
  }

  get epoch(): Epoch {
    return this.epoch_;
  }

  /** Put the device in state `included` of `epoch`, this epoch or a later one. */
  goto(epoch: Epoch, included: Included): void {
    if (epoch.index < this.epoch_.index)
      throw new BadArgument(`cannot go back from epoch ${this.epoch_.index} to epoch ${epoch.index}: it is durable`);
    while (this.epoch_ !== epoch) {
      const next = this.epoch_.next;
      if (!next) throw new BadArgument(`epoch ${epoch.index} does not follow epoch ${this.epoch_.index}`);
      this.move(new Uint8Array(this.epoch_.writes.length).fill(1));
      this.onDurable?.(this.epoch_);
      this.enter(next);
    }
    this.move(included);
  }

  /** Back to the durable prefix of the current epoch. */
  reset(): void {
    this.move(new Uint8Array(this.epoch_.writes.length));
  }

  private enter(epoch: Epoch): void {
    this.epoch_ = epoch;
    this.layout = layoutOf(epoch);
    this.included = new Uint8Array(epoch.writes.length);
    this.owner = new Int32Array(this.layout.segments.length).fill(BASE);
    this.stamp = new Uint32Array(this.layout.segments.length);
    this.undo = new Map();
  }

  private move(target: Included): void {
    const { segments, of } = this.layout;
    if (target.length !== this.included.length)
      throw new BadArgument(
        `state has ${target.length} writes, epoch ${this.epoch_.index} has ${this.included.length}`,
      );
    const g = ++this.generation;
    for (let w = 0; w < target.length; w++) {
      if (target[w] === this.included[w]) continue;
      for (const seg of of[w]!) {
        if (this.stamp[seg] === g) continue;
        this.stamp[seg] = g;
        const writers = segments[seg]!.writers;
        let owner = BASE;
        for (let k = writers.length - 1; k >= 0; k--) {
          if (target[writers[k]!]) {
            owner = writers[k]!;
            break;
          }
        }
        if (owner !== this.owner[seg]) this.rewrite(seg, owner);
      }
    }
    this.included = target.slice();
  }

  private rewrite(seg: number, owner: number): void {
    const S = this.sectorSize;
    const s = this.layout.segments[seg]!;
    const at = s.sector * S;
    const length = s.nrSectors * S;
    if (this.owner[seg] === BASE && !this.undo.has(seg)) this.undo.set(seg, this.device.read(at, length).slice());
    this.owner[seg] = owner;
    this.bytesMoved += length;
    if (owner === BASE) return this.device.write(at, this.undo.get(seg)!);
    const w: EpochWrite = this.epoch_.writes[owner]!;
    if (w.discard) return this.device.zero(at, length);
    const from = w.payloadOffset + (s.sector - w.sector) * S;
    const data = this.log.read(from, length);
    if (data.length < length)
      throw truncatedPayload({ deviceSector: s.sector, need: from + length }, from + data.length);
    this.device.write(at, data);
  }
}
