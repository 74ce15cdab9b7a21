// Replaying a range of a log onto an image or device, by the fastest plan that gives the same
// result, with checks at chosen points, and a summary of what happened: what `logwrites
// replay` runs, callable as a function. SIGINT and SIGTERM stop it between entries, the
// target synced, when `stopOnSignals` says so.

import * as fs from 'node:fs';
import { parseFlags } from '../../format.ts';
import { replayLastWrites } from '../../replay/last-write.ts';
import { holdsNo, scanRange, type RangeSpec, type ScannedRange } from '../../range.ts';
import type { Entry, LogReader } from '../../reader.ts';
import { replay, type Step } from '../../replay/loop.ts';
import { runCheck } from '../io/checker.ts';
import { describePath } from '../io/device-info.ts';
import { keepMappedFor, type FileSource } from '../io/file.ts';
import { onStopSignals } from '../io/signals.ts';
import { openTarget, type FileTarget } from '../io/target.ts';
import { guardWrite } from '../guard/write-guard.ts';
import { OptionsError, PastTarget, TargetError, WriteRefused } from '../../errors.ts';

/** When to run the checker: after entries with these flags, or every N entries. */
export type CheckAt = { flags: number } | { every: number };

const due = (c: CheckAt, e: Entry, n: number) => ('every' in c ? n % c.every === 0 : (e.flags & c.flags) !== 0);

export interface CheckFailure {
  entry: number;
  status: number | null;
  output: string;
}

export interface ReplayOptions {
  from?: RangeSpec['from'];
  to?: RangeSpec['to'];
  limit?: number;
  until?: string;
  sectors?: RangeSpec['sectors'];
  discard: 'zero' | 'unmap' | 'skip';
  plan?: 'last-write' | 'sequential';
  check?: CheckAt;
  exec?: string;
  keepGoing?: boolean;
  force?: boolean;
  /** Stop between entries at SIGINT or SIGTERM (the summary says which), instead of dying. */
  stopOnSignals?: boolean;
  /** Told how much the range holds before the replay starts; what it returns hears the progress. */
  progress?: (entries: number, bytes: number) => ProgressSink;
}

/** Where a replay reports how far it got: entries visited and payload bytes passed. */
export interface ProgressSink {
  update(entries: number, bytes: number): void;
  done(): void;
}

export interface ReplaySummary {
  plan: 'last-write' | 'sequential';
  firstEntry: number | null;
  lastEntry: number | null;
  entries: number;
  bytesWritten: number;
  bytesZeroed: number;
  seconds: number;
  interrupted: boolean;
  /** The signal that interrupted the replay, if one did. */
  signal: NodeJS.Signals | null;
  checks: number;
  failures: CheckFailure[];
  /** A check or stop condition that never fired, said so instead of passing silently. */
  notes: string[];
}

/**
 * Whether to stop, asked between entries: the replay's I/O is synchronous, so without a turn
 * of the event loop now and then a SIGINT handler would never run.
 */
function stopper(flag: () => boolean): () => Promise<boolean> {
  let turn = performance.now();
  return async () => {
    if (performance.now() - turn > 20) {
      await new Promise((resolve) => setImmediate(resolve));
      turn = performance.now();
    }
    return flag();
  };
}

async function sequential(
  reader: LogReader,
  target: FileTarget,
  targetPath: string,
  range: ScannedRange,
  o: ReplayOptions,
  progress: ProgressSink | undefined,
  stop: () => Promise<boolean>,
  summary: ReplaySummary,
) {
  const lastIndex = range.last!.index;
  let n = 0;
  const r = await replay(reader, target, {
    from: range.start,
    discards: o.discard !== 'skip',
    ...(o.sectors ? { sectors: o.sectors } : {}),
    visit: async (e, _applied, settle): Promise<Step> => {
      n++;
      progress?.update(n, e.payloadOffset - range.start.offset);
      if (o.check && o.exec !== undefined && due(o.check, e, n)) {
        await settle();
        summary.checks++;
        const r = await runCheck(o.exec, targetPath, { env: { LOGWRITES_ENTRY: String(e.index) } });
        if (r.status !== 0) {
          summary.failures.push({ entry: e.index, status: r.status, output: r.output });
          if (!o.keepGoing) return 'stop';
        }
      }
      if (e.index === lastIndex) return 'stop';
      if (await stop()) {
        summary.interrupted = true;
        return 'stop';
      }
      return 'next';
    },
  });
  summary.entries = r.entries;
  summary.lastEntry = r.last?.index ?? null;
  summary.bytesWritten = r.bytesWritten;
  summary.bytesZeroed = r.bytesZeroed;
}

/** The plan a replay with these options runs; options that do not go together are refused (before any log is opened). */
export function replayPlan(o: Pick<ReplayOptions, 'check' | 'exec' | 'plan'>): 'last-write' | 'sequential' {
  if ((o.check === undefined) !== (o.exec === undefined)) throw new OptionsError('--check and --exec go together');
  const plan = o.plan ?? (o.check ? 'sequential' : 'last-write');
  if (plan === 'last-write' && o.check)
    throw new OptionsError('--plan last-write cannot run checks between entries; use --plan sequential');
  return plan;
}

/** Replay the opened log `reader` (read from `source`) onto `targetPath`, as `o` says. */
export async function replayOnto(
  reader: LogReader,
  source: FileSource,
  targetPath: string,
  o: ReplayOptions,
): Promise<ReplaySummary> {
  const plan = replayPlan(o);
  const spec: RangeSpec = {
    ...(o.from ? { from: o.from } : {}),
    ...(o.to ? { to: o.to } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(o.until ? { until: parseFlags(o.until) } : {}),
    ...(o.sectors ? { sectors: o.sectors } : {}),
    discards: o.discard !== 'skip',
  };
  const info = describePath(targetPath);
  if (!info)
    throw new TargetError(
      `cannot open target ${targetPath}: it does not exist (replay writes onto an existing image or device)`,
    );
  if (fs.statSync(targetPath).isDirectory())
    throw new TargetError(`cannot open target ${targetPath}: it is a directory`);
  if (plan === 'last-write') keepMappedFor(source, info);
  let range: ScannedRange;
  try {
    // The target's size bounds the scan, so a forged entry is refused before it costs memory.
    spec.target = { sectors: Math.floor(info.size / reader.sectorSize), force: !!o.force };
    range = await scanRange(reader, spec, plan === 'last-write');
  } catch (e) {
    if (e instanceof PastTarget) throw new WriteRefused('replay', e.message);
    throw e;
  }
  // Judged before the target is opened for writing.
  const writeEnd = (range.highestSector + 1) * reader.sectorSize;
  guardWrite('replay', { path: targetPath, keep: [{ name: 'the log', info: source.info }], writeEnd }, !!o.force);
  let target: FileTarget;
  try {
    target = openTarget(targetPath, {
      grow: !!o.force,
      discard: o.discard === 'unmap' ? 'unmap' : 'zero',
      direct: true,
      writeBehind: true,
    });
  } catch (e) {
    throw new TargetError(`cannot open target ${targetPath}: ${(e as Error).message}`);
  }
  const summary: ReplaySummary = {
    plan,
    firstEntry: range.last ? range.start.index : null,
    lastEntry: null,
    entries: 0,
    bytesWritten: 0,
    bytesZeroed: 0,
    seconds: 0,
    interrupted: false,
    signal: null,
    checks: 0,
    failures: [],
    notes: [],
  };
  if (spec.until && range.last && !(range.last.flags & spec.until)) {
    summary.notes.push(
      `--until ${o.until} never fired: ${holdsNo(spec.until)}, so it ends at entry ${range.last.index}`,
    );
  }
  let interrupted: NodeJS.Signals | undefined;
  const stopListening = o.stopOnSignals ? onStopSignals((sig) => void (interrupted = sig)) : () => {};
  const started = performance.now();
  const progress = o.progress?.(range.entries, range.payloadBytes);
  const stop = stopper(() => interrupted !== undefined);
  try {
    if (!range.last) return summary;
    if (plan === 'sequential') await sequential(reader, target, targetPath, range, o, progress, stop, summary);
    else {
      const r = await replayLastWrites(reader, target, range.map!, stop);
      summary.interrupted = !r.complete;
      summary.entries = r.complete ? range.entries : 0;
      summary.lastEntry = r.complete ? range.last.index : null;
      summary.bytesWritten = r.bytesWritten;
      summary.bytesZeroed = r.bytesZeroed;
    }
  } finally {
    progress?.done();
    stopListening();
    await target.sync();
    target.close();
    summary.seconds = (performance.now() - started) / 1000;
    summary.signal = interrupted ?? null;
  }
  if (o.check && !summary.checks && !summary.interrupted) {
    const why = 'every' in o.check ? `the range holds fewer than ${o.check.every} entries` : holdsNo(o.check.flags);
    summary.notes.push(`checks: 0 run (${why})`);
  }
  return summary;
}
