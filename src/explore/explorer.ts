// Crash-state exploration: every state a power cut could leave on the device, each distinct
// device content once. Platform-neutral: the caller brings the log, the kernels and, to
// check states, devices to move (src/node/explore/runner.ts runs checkers on working images).
//
// The model (README "Crash states"): entries before a FLUSH are durable once it completed.
// Between two FLUSH entries lies an epoch: a crash strikes after some write of it; the FUA
// writes before that point are on disk, each cached write (plain write or discard) before it
// may be or not, and nothing after it is. A write is never torn: a whole entry is on disk or
// none of it. Marks are not writes.

import { Flag } from '../format.ts';
import type { Fingerprint, Kernels } from '../kernels/load.ts';
import type { ByteSource, LogReader } from '../reader.ts';
import { contentSource, SectorMap, UNTOUCHED, ZEROED } from '../replay/sector-map.ts';
import { Cursor, type Device, type SyncBytes } from './cursor.ts';
import { EpochFilter, isWrite, readEpochs, type Epoch, type EpochSelection } from './epochs.ts';
import { epochStates, type Strategy } from './strategies.ts';
import { parseStateId, type Included } from './state.ts';

export { Cursor, layoutOf, type Device, type SyncBytes } from './cursor.ts';
export { EpochFilter, readEpochs, type Epoch, type EpochSelection, type EpochWrite } from './epochs.ts';
export { describeState, formatStateId, parseStateId, stateId, type Included, type StateRef } from './state.ts';
export {
  byLogOrder,
  emptySummary,
  inShard,
  mergeReports,
  planDifference,
  REPORT_VERSION,
  type ExplorePlan,
  type ExploreReport,
  type ExploreSummary,
  type FailedState,
  type NamedReport,
  type Shard,
  type Stopped,
} from './report.ts';
export { autoShard, SHARD_VARIABLES, type ShardEnvironment } from './shard.ts';
export {
  epochStates,
  MAX_EXHAUSTIVE_WRITES,
  seededRandom,
  stateCount,
  STRATEGY_KINDS,
  type Strategy,
  type StrategyKind,
} from './strategies.ts';
import { BadArgument, EmptySelection, StateIdError } from '../errors.ts';
export { MergeError, ShardError, StateIdError } from '../errors.ts';

/** A byte source that answers at once (a file, memory): cursors run synchronously. */
export function syncBytes(source: ByteSource): SyncBytes {
  return {
    read(offset, length) {
      const got = source.read(offset, length);
      if (got instanceof Promise)
        throw new BadArgument('exploring needs a log that reads synchronously (a file or bytes in memory)');
      return got;
    },
  };
}

const MAX_READ = 8 * 1024 * 1024;

/** Bytes [offset, offset + length) of the device a SectorMap describes (zeros where untouched). */
function mapRead(map: SectorMap, log: SyncBytes, S: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const first = offset / S;
  const n = length / S;
  for (let i = 0; i < n; ) {
    const src = map.get(first + i);
    let j = i + 1;
    if (src !== UNTOUCHED && src !== ZEROED) {
      while (j < n && map.get(first + j) === src + (j - i) * S) j++;
      out.set(log.read(src, (j - i) * S), i * S);
    }
    i = j;
  }
  return out;
}

/** Record an epoch's writes, in order, as durable. */
function makeDurable(map: SectorMap, epoch: Epoch): void {
  for (const w of epoch.writes) map.set(w.sector, w.nrSectors, contentSource(w));
}

/** A fingerprint seen as a device: writes hash, reads give the durable prefix's bytes (all a cursor reads is base content). */
function fingerprintDevice(fp: Fingerprint, map: SectorMap, log: SyncBytes, S: number): Device {
  return {
    read: (offset, length) => mapRead(map, log, S, offset, length),
    write: (offset, data) => fp.write(offset / S, data),
    zero: (offset, length) => fp.zero(offset / S, length / S),
  };
}

export interface ExploreSpec {
  readonly strategies: readonly Strategy[];
  readonly selection: EpochSelection;
  /** Stop after this many states (over all epochs). */
  readonly maxStates?: number;
}

export interface ExploredState {
  readonly id: string;
  readonly epoch: Epoch;
  readonly included: Included;
  /** The device fingerprint of the state (kernels' order-independent digest). */
  readonly fingerprint: bigint;
  /** No earlier state had this fingerprint: the one to check. */
  readonly unique: boolean;
}

/**
 * Generates crash states epoch by epoch, following each with a fingerprint that moves as a
 * cursor does (O(bytes that differ) per state), so equal devices are found without building them.
 */
export class Explorer {
  generated = 0;
  unique = 0;
  /** States stopped at `maxStates` with more to generate. */
  truncated = false;
  private readonly seen = new Set<bigint>();

  private constructor(
    private readonly epochs: AsyncIterator<Epoch>,
    private readonly filter: EpochFilter,
    private readonly spec: ExploreSpec,
    /** The first epoch explored, until states() takes it (holding it would hold every later epoch). */
    private start: Epoch | undefined,
    /** The last write of every sector in the durable prefix the first state starts from. */
    readonly durable: SectorMap,
    private readonly fp: Fingerprint,
    private readonly shadow: Cursor,
  ) {}

  static async open(reader: LogReader, kernels: Kernels, spec: ExploreSpec): Promise<Explorer> {
    const S = reader.sectorSize;
    const log = syncBytes(reader.source);
    const epochs = readEpochs(reader)[Symbol.asyncIterator]();
    const filter = new EpochFilter(spec.selection);
    const durable = new SectorMap(S);
    let first: Epoch | undefined;
    while (!first && !filter.done) {
      const r = await epochs.next();
      if (r.done) break;
      if (filter.take(r.value)) first = r.value;
      else makeDurable(durable, r.value);
    }
    if (!first) throw new EmptySelection('no epoch of the log lies in the selected range');
    const fp = kernels.fingerprint(S);
    for (const x of durable.extents()) {
      if (x.source === ZEROED) continue;
      for (let done = 0; done < x.nrSectors * S; done += MAX_READ) {
        fp.write(x.sector + done / S, log.read(x.source + done, Math.min(MAX_READ, x.nrSectors * S - done)));
      }
    }
    const shadow = new Cursor(fingerprintDevice(fp, durable, log, S), log, S, first, (e) => makeDurable(durable, e));
    return new Explorer(epochs, filter, spec, first, durable, fp, shadow);
  }

  /** Every planned state, in order; at most `maxStates`. The first is in the first epoch explored. */
  async *states(): AsyncGenerator<ExploredState> {
    const max = this.spec.maxStates ?? Infinity;
    let epoch = this.start;
    this.start = undefined;
    let first = true;
    while (epoch) {
      for (const { id, included } of epochStates(epoch, this.spec.strategies, first)) {
        if (this.generated >= max) {
          this.truncated = true;
          return;
        }
        this.shadow.goto(epoch, included);
        const fingerprint = this.fp.value();
        const unique = !this.seen.has(fingerprint);
        if (unique) {
          this.seen.add(fingerprint);
          this.unique++;
        }
        this.generated++;
        yield { id, epoch, included, fingerprint, unique };
      }
      first = false;
      const r = await this.epochs.next();
      epoch = !r.done && this.filter.take(r.value) ? r.value : undefined;
    }
  }

  dispose(): void {
    this.fp.dispose();
  }
}

export interface MaterializedState {
  /** The device of the state: the last write of each sector, ready for replayLastWrites. */
  readonly map: SectorMap;
  readonly epoch: number;
  /** The epoch's writes before the crash point, present and absent. */
  readonly included: number[];
  readonly excluded: number[];
}

/** What exactly a state id puts on the device, checked against the log. */
export async function materializeState(reader: LogReader, id: string): Promise<MaterializedState> {
  const ref = parseStateId(id);
  const excluded = new Set(ref.excluded);
  const writes: { index: number; sector: number; nrSectors: number; flags: number; payloadOffset: number }[] = [];
  let epoch = 0;
  let epochStart = 0;
  let seen = 0;
  for await (const e of reader.entries()) {
    if (e.index >= ref.count) break;
    seen = e.index + 1;
    if (e.flags & Flag.FLUSH) {
      epoch++;
      epochStart = e.index;
    }
    if (isWrite(e.flags, e.nrSectors)) writes.push(e);
  }
  if (seen < ref.count) throw new StateIdError(`state ${id}: the log has only ${seen} entries`);
  const inEpoch = writes.filter((w) => w.index >= epochStart);
  for (const x of excluded) {
    const w = inEpoch.find((v) => v.index === x);
    if (!w)
      throw new StateIdError(
        `state ${id}: entry ${x} is not a write of epoch ${epoch} (entries ${epochStart}..${ref.count - 1}); earlier writes are durable`,
      );
    if (w.flags & Flag.FUA)
      throw new StateIdError(`state ${id}: entry ${x} is a FUA write, durable before the crash point`);
  }
  const map = new SectorMap(reader.sectorSize);
  for (const w of writes) if (!excluded.has(w.index)) map.set(w.sector, w.nrSectors, contentSource(w));
  return {
    map,
    epoch,
    included: inEpoch.filter((w) => !excluded.has(w.index)).map((w) => w.index),
    excluded: [...excluded],
  };
}
