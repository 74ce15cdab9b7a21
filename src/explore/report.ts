// What an exploration reports, and how the reports of the shards of one run become the report
// of the whole run: the same counts, the same failing states, as if one machine had done it.
//
// A report names its run by what decides which states exist and how they are judged: the
// log's content, the strategies, the selection, the cap, the checker and its time limit. Its
// shard says which part of the unique states it checked. Paths do not take part: shards run
// on machines where the log and images lie elsewhere.

import { parseStateId } from './state.ts';
import { MergeError } from '../errors.ts';

/** Shard `index` (1-based) of `count`: the unique states whose fingerprint mod count is index - 1. */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function inShard(fingerprint: bigint, shard: Shard | undefined): boolean {
  return !shard || fingerprint % BigInt(shard.count) === BigInt(shard.index - 1);
}

/** The run a report belongs to. */
export interface ExplorePlan {
  /** The log by content: sha256 of its bytes through the end of its last entry. */
  readonly log: {
    readonly sha256: string;
    readonly bytes: number;
    readonly entries: number;
    readonly sectorSize: number;
  };
  readonly strategies: readonly unknown[];
  readonly selection: unknown;
  readonly maxStates: number | null;
  readonly shard: Shard | null;
  readonly exec: string | null;
  /** The checker's time limit in seconds. */
  readonly timeout: number | null;
}

export interface FailedState {
  readonly id: string;
  readonly epoch: number;
  readonly fingerprint: string;
  readonly included: number[];
  /** Writes that completed before the crash point but were not on disk. */
  readonly excluded: number[];
  /** Writes of the epoch after the crash point. */
  readonly unreached: number[];
  readonly status: number | null;
  readonly signal: string | null;
  readonly output: string;
  /** The checker ran out of time (and was killed): the state is not known to be consistent. */
  readonly timedOut: boolean;
}

/** Why a run ended before every planned state was generated and checked. */
export interface Stopped {
  readonly reason: 'max-states' | 'interrupted';
  /** The epoch the last generated state belongs to. */
  readonly epoch: number | null;
}

export interface ExploreSummary {
  generated: number;
  unique: number;
  checked: number;
  /** States whose checker did not say consistent: it failed, died, or timed out. */
  failed: number;
  timedOut: number;
  /** Unique states left to other shards, and states an earlier run (--resume) had checked. */
  otherShards: number;
  resumed: number;
  /** Epochs that had states to explore, the first and the last of them. */
  epochs: number;
  firstEpoch: number | null;
  lastEpoch: number | null;
  seconds: number;
  statesPerSecond: number;
  complete: boolean;
  stopped: Stopped | null;
}

export const REPORT_VERSION = 2;

export interface ExploreReport {
  readonly version: typeof REPORT_VERSION;
  /** What was explored: a resumed run must match it, and the shards merged must share it. */
  readonly plan: ExplorePlan;
  readonly summary: ExploreSummary;
  /** In log order (epoch, then crash point), whatever order the checks ended in. */
  readonly failures: FailedState[];
  /** Fingerprints (hex) of every state checked, for --resume. */
  readonly checked: string[];
}

export function emptySummary(): ExploreSummary {
  return {
    generated: 0,
    unique: 0,
    checked: 0,
    failed: 0,
    timedOut: 0,
    otherShards: 0,
    resumed: 0,
    epochs: 0,
    firstEpoch: null,
    lastEpoch: null,
    seconds: 0,
    statesPerSecond: 0,
    complete: false,
    stopped: null,
  };
}

/** Log order of failing states: by epoch, crash point, then id. */
export function byLogOrder(a: FailedState, b: FailedState): number {
  return (
    a.epoch - b.epoch || parseStateId(a.id).count - parseStateId(b.id).count || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** JSON with object keys sorted, so that equal values compare equal as text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const PLAN_PARTS = ['log', 'strategies', 'selection', 'maxStates', 'exec', 'timeout', 'shard'] as const;

/** The parts of the plan in which two plans differ (the shard too, unless `anyShard`). */
export function planDifference(a: ExplorePlan, b: ExplorePlan, anyShard = false): string[] {
  return PLAN_PARTS.filter((k) => !(anyShard && k === 'shard') && canonical(a[k]) !== canonical(b[k]));
}

export interface NamedReport {
  /** Where it came from, to name it in messages. */
  readonly name: string;
  readonly report: ExploreReport;
}

/** The shards of one run, each exactly once, by index. */
function shardsOf(inputs: readonly NamedReport[]): NamedReport[] {
  const first = inputs[0]!;
  const count = first.report.plan.shard?.count ?? 1;
  const byIndex = new Map<number, NamedReport>();
  for (const x of inputs) {
    const differs = planDifference(first.report.plan, x.report.plan, true);
    if (differs.length)
      throw new MergeError(`${x.name} is of another run than ${first.name} (they differ in ${differs.join(', ')})`);
    const shard = x.report.plan.shard ?? { index: 1, count: 1 };
    if (shard.count !== count)
      throw new MergeError(`${x.name} is shard ${shard.index} of ${shard.count}, ${first.name} is of ${count} shards`);
    const twin = byIndex.get(shard.index);
    if (twin) throw new MergeError(`shard ${shard.index} of ${count} is given twice: ${twin.name} and ${x.name}`);
    byIndex.set(shard.index, x);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length)
    throw new MergeError(
      `shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${count} missing (given: ${[...byIndex.keys()].sort((a, b) => a - b).join(', ')})`,
    );
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, x]) => x);
}

/** One report of the whole run from every shard's report: what an unsharded run reports. */
export function mergeReports(inputs: readonly NamedReport[]): ExploreReport {
  if (!inputs.length) throw new MergeError('no reports to merge');
  const named = shardsOf(inputs);
  const shards = named.map((x) => x.report);
  // Complete shards of one run generated the same states; if not, the plans only look alike (another logwrites?).
  const done = named.filter((x) => x.report.summary.complete);
  for (const x of done) {
    const a = done[0]!.report.summary;
    const b = x.report.summary;
    if (a.generated !== b.generated || a.unique !== b.unique) {
      throw new MergeError(
        `${x.name} generated ${b.generated} states (${b.unique} unique) where ${done[0]!.name} generated ${a.generated} (${a.unique}): not shards of one run`,
      );
    }
  }
  // Every shard generates every state; the one that got furthest (all, unless some stopped) speaks for them.
  const furthest = shards.reduce((a, b) => (b.summary.generated > a.summary.generated ? b : a));
  const sum = (k: 'checked' | 'failed' | 'timedOut' | 'resumed') => shards.reduce((n, r) => n + r.summary[k], 0);
  const seconds = Math.max(...shards.map((r) => r.summary.seconds));
  const complete = shards.every((r) => r.summary.complete);
  const summary: ExploreSummary = {
    ...furthest.summary,
    checked: sum('checked'),
    failed: sum('failed'),
    timedOut: sum('timedOut'),
    resumed: sum('resumed'),
    otherShards: 0,
    seconds,
    statesPerSecond: furthest.summary.generated / Math.max(seconds, 1e-6),
    complete,
    stopped: complete ? null : shards.find((r) => !r.summary.complete)!.summary.stopped,
  };
  return {
    version: REPORT_VERSION,
    plan: { ...shards[0]!.plan, shard: null },
    summary,
    failures: shards.flatMap((r) => r.failures).sort(byLogOrder),
    checked: shards.flatMap((r) => r.checked),
  };
}
