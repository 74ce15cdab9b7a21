// The device as it stood after a chosen entry, replayed into memory, with its fingerprint;
// and the sectors whose content differs between two such points.
//
// Moving forward continues from where the image is; moving back starts over, since a log
// only runs one way. A diff copies each sector the first time it changes after the earlier
// point, so it costs the sectors touched between the points, never a second image.

import type { Kernels } from '../kernels/load.ts';
import type { LogReader } from '../reader.ts';
import { replay } from '../replay/loop.ts';
import { memoryTarget, type ImageWatcher } from './memory-target.ts';
import { BadArgument, Cancelled } from '../errors.ts';
import { hex64 } from '../units.ts';

/** Devices larger than this are not replayed into page memory. */
export const MAX_IMAGE_BYTES = 1024 * 1024 * 1024;

/** A state of the device: after which entry, and its fingerprint. */
export interface StatePoint {
  /** The last entry applied. */
  readonly at: number;
  /** Hex of the order-independent device fingerprint. */
  readonly fingerprint: string;
}

/** Changed sectors as [first, count] runs in log sectors, ascending. */
export type SectorRuns = [number, number][];

export interface Diff {
  /** The earlier point and the later one: a diff always runs forward in the log. */
  readonly a: StatePoint;
  readonly b: StatePoint;
  readonly runs: SectorRuns;
  /** The points were asked for later one first, so a and b are the other way round. */
  readonly swapped: boolean;
}

/** One sector's bytes at both points of a diff. */
export interface SectorPair {
  readonly sector: number;
  readonly a: StatePoint;
  readonly b: StatePoint;
  readonly before: Uint8Array;
  readonly after: Uint8Array;
}

type Fingerprint = ReturnType<Kernels['fingerprint']>;

export class DeviceState {
  readonly image: Uint8Array<ArrayBuffer>;
  private fp: Fingerprint;
  private at = -1;
  private readonly watchers: ImageWatcher[];
  /** The last diff's first-touch copies, for comparing its sectors while the image is still at its later point. */
  private lastDiff?: { readonly a: StatePoint; readonly b: StatePoint; readonly undo: FirstTouch };

  constructor(
    private readonly reader: LogReader,
    /** Header offset of each entry (the index's column), to start a replay anywhere. */
    private readonly offsets: Float64Array,
    private readonly kernels: Kernels,
    size: number,
  ) {
    if (size > MAX_IMAGE_BYTES) {
      throw new BadArgument(
        `the device is ${size} bytes; states are replayed in memory only up to ${MAX_IMAGE_BYTES} bytes (1 GiB)`,
      );
    }
    this.image = new Uint8Array(size);
    this.fp = kernels.fingerprint(reader.sectorSize);
    const S = reader.sectorSize;
    this.watchers = [
      {
        written: (offset, data) => this.fp.write(offset / S, data),
        zeroed: (offset, length) => this.fp.zero(offset / S, length / S),
      },
    ];
  }

  /** The point the image is at now (at -1 before any entry). */
  point(): StatePoint {
    return { at: this.at, fingerprint: hex64(this.fp.value()) };
  }

  /** Bring the image to the state right after entry `at`. */
  async goTo(at: number, signal?: AbortSignal): Promise<StatePoint> {
    const last = Math.min(this.reader.nrEntries, this.offsets.length) - 1;
    if (!(at >= 0 && at <= last))
      throw new BadArgument(`entry ${at} is outside the replayable entries 0..${last} (replay stops at nr_entries)`);
    if (at < this.at) this.reset();
    if (at > this.at) {
      const next = this.at + 1;
      await replay(this.reader, memoryTarget(this.image, this.kernels, this.watchers), {
        from: { index: next, offset: this.offsets[next]! },
        visit: (e) => {
          this.at = e.index;
          if (signal?.aborted) throw new Cancelled();
          return e.index >= at ? 'stop' : 'next';
        },
      });
    }
    return this.point();
  }

  /** Sectors whose content differs between the states after entries `a` and `b`. */
  async diff(a: number, b: number, signal?: AbortSignal): Promise<Diff> {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    const pa = await this.goTo(lo, signal);
    const undo = new FirstTouch(this.image, this.reader.sectorSize);
    this.watchers.push(undo);
    try {
      const pb = await this.goTo(hi, signal);
      this.lastDiff = { a: pa, b: pb, undo };
      return { a: pa, b: pb, runs: undo.changed(this.image), swapped: a > b };
    } finally {
      this.watchers.pop();
    }
  }

  /** Sector `sector` after entry `a` and after entry `b` (a diff of the two first, unless the last one was of them). */
  async compareSector(a: number, b: number, sector: number, signal?: AbortSignal): Promise<SectorPair> {
    const S = this.reader.sectorSize;
    if (!(sector >= 0 && (sector + 1) * S <= this.image.length))
      throw new BadArgument(`sector ${sector} is outside the ${this.image.length / S}-sector device`);
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    const d = this.lastDiff;
    if (!d || d.a.at !== lo || d.b.at !== hi || this.at !== hi) await this.diff(lo, hi, signal);
    const { a: pa, b: pb, undo } = this.lastDiff!;
    const after = this.image.slice(sector * S, (sector + 1) * S);
    return { sector, a: pa, b: pb, before: undo.original(sector) ?? after.slice(), after };
  }

  dispose(): void {
    this.fp.dispose();
  }

  private reset(): void {
    this.lastDiff = undefined;
    this.image.fill(0);
    this.fp.dispose();
    this.fp = this.kernels.fingerprint(this.reader.sectorSize);
    this.at = -1;
  }
}

/** Keeps the content each sector had before its first change. */
class FirstTouch implements ImageWatcher {
  private readonly seen: Uint8Array;
  private readonly saved: { sector: number; bytes: Uint8Array }[] = [];

  constructor(
    private readonly image: Uint8Array,
    private readonly S: number,
  ) {
    this.seen = new Uint8Array(Math.ceil(image.length / S));
  }

  before(offset: number, length: number): void {
    const S = this.S;
    const end = (offset + length) / S;
    for (let s = offset / S; s < end; ) {
      if (this.seen[s]) {
        s++;
        continue;
      }
      const start = s;
      while (s < end && !this.seen[s]) this.seen[s++] = 1;
      this.saved.push({ sector: start, bytes: this.image.slice(start * S, s * S) });
    }
  }

  /** The bytes `sector` had before its first change, or undefined when it did not change. */
  original(sector: number): Uint8Array | undefined {
    const S = this.S;
    const run = this.saved.find((r) => sector >= r.sector && sector < r.sector + r.bytes.length / S);
    return run?.bytes.slice((sector - run.sector) * S, (sector - run.sector + 1) * S);
  }

  changed(now: Uint8Array): SectorRuns {
    const S = this.S;
    const sectors: number[] = [];
    for (const { sector, bytes } of this.saved) {
      for (let k = 0; k * S < bytes.length; k++) {
        if (!sameBytes(bytes.subarray(k * S, (k + 1) * S), now.subarray((sector + k) * S, (sector + k + 1) * S)))
          sectors.push(sector + k);
      }
    }
    return toRuns(sectors.sort((x, y) => x - y));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  // Sector-sized, sector-aligned buffers: compare four bytes at a time.
  const a32 = new Uint32Array(a.buffer, a.byteOffset, a.length >>> 2);
  const b32 = new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
  for (let i = 0; i < a32.length; i++) if (a32[i] !== b32[i]) return false;
  return true;
}

/** Ascending sector numbers to [first, count] runs. */
export function toRuns(sorted: readonly number[]): SectorRuns {
  const runs: SectorRuns = [];
  for (const s of sorted) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === s) last[1]++;
    else runs.push([s, 1]);
  }
  return runs;
}
