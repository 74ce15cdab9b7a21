// Crash-state exploration on Node: working images, checkers run in parallel on copies of
// them, and the report that lets a run resume or be spread over shards.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import {
  byLogOrder,
  Cursor,
  describeState,
  emptySummary,
  Explorer,
  inShard,
  materializeState,
  planDifference,
  REPORT_VERSION,
  syncBytes,
  type Device,
  type ExploredState,
  type ExplorePlan,
  type ExploreReport,
  type ExploreSpec,
  type ExploreSummary,
  type FailedState,
  type MaterializedState,
  type Shard,
  type Stopped,
} from '../../explore/explorer.ts';
import { loadNodeKernels } from '../kernels.ts';
import { replayLastWrites } from '../../replay/last-write.ts';
import { LogReader } from '../../reader.ts';
import { scanRange } from '../../range.ts';
import { runCheck, type CheckResult } from '../io/checker.ts';
import { openSource, type FileSource } from '../io/file.ts';
import { openTarget, type FileTarget } from '../io/target.ts';
import { writeHazard } from '../guard/write-guard.ts';

export type { ExplorePlan, ExploreReport, ExploreSummary, FailedState, Shard } from '../../explore/explorer.ts';
import { OptionsError, ReportError, ResumeMismatch, WorkImageRefused } from '../../errors.ts';
import { hex64 as hex } from '../../units.ts';

/** A regular file opened for reading and writing, as a cursor's device and a replay target. */
class ImageFile {
  private readonly source: FileSource;
  readonly target: FileTarget;
  readonly device: Device;

  constructor(readonly path: string) {
    this.source = openSource(path);
    this.target = openTarget(path);
    const bytes = syncBytes(this.source);
    const target = this.target;
    // openTarget's writes are synchronous pwrites; nothing is left pending.
    this.device = {
      read: (offset, length) => bytes.read(offset, length),
      write: (offset, data) => void target.write(offset, [data]),
      zero: (offset, length) => void target.zero(offset, length),
    };
  }

  close(): void {
    this.target.sync();
    this.target.close();
    this.source.close();
  }
}

/** Why `path` cannot be a working image, or undefined. Working images are plain files we may overwrite. */
function imageHazard(path: string, log: FileSource): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    return undefined;
  }
  if (!st.isFile()) return `${path} is not a regular file (working images are files that explore overwrites)`;
  return writeHazard({ path, keep: [{ name: 'the log', info: log.info }] });
}

/**
 * Make `path` a sparse file of zeros, the device before the log's first entry, and open it.
 * Its size: `size`, or the larger of its present size and what the log reaches.
 */
async function freshImage(path: string, log: FileSource, reader: LogReader, size?: number): Promise<ImageFile> {
  const hazard = imageHazard(path, log);
  if (hazard) throw new WorkImageRefused(path, hazard);
  const reach = ((await scanRange(reader, {})).highestSector + 1) * reader.sectorSize;
  const existing = fs.existsSync(path) ? fs.statSync(path).size : 0;
  fs.writeFileSync(path, '');
  fs.truncateSync(path, size ?? Math.max(existing, reach));
  return new ImageFile(path);
}

/** Copy a working image, sharing blocks where the file system can (reflink) and keeping holes where it cannot. */
function copyImage(from: string, to: string): void {
  try {
    execFileSync('cp', ['--reflink=auto', '--sparse=always', from, to], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    fs.copyFileSync(from, to, fs.constants.COPYFILE_FICLONE);
  }
}

/** Checkers at work: each slot is a working image and a cursor on it; a free slot takes the next state. */
class Pool {
  private readonly idle: number[];
  private readonly waiting: ((slot: number) => void)[] = [];
  private readonly running = new Set<Promise<void>>();
  /** The first error of any work: the run stops and rethrows it. */
  error: unknown;

  constructor(size: number) {
    this.idle = Array.from({ length: size }, (_, i) => i);
  }

  acquire(): Promise<number> {
    const slot = this.idle.shift();
    return slot !== undefined ? Promise.resolve(slot) : new Promise((resolve) => this.waiting.push(resolve));
  }

  run(slot: number, work: Promise<void>): void {
    const done: Promise<void> = work
      .catch((e: unknown) => void (this.error ??= e))
      .finally(() => {
        this.running.delete(done);
        const next = this.waiting.shift();
        if (next) next(slot);
        else this.idle.push(slot);
      });
    this.running.add(done);
  }

  async drain(): Promise<void> {
    while (this.running.size) await Promise.all(this.running);
    if (this.error !== undefined) throw this.error;
  }
}

export interface ExploreRunOptions extends ExploreSpec {
  readonly log: string;
  /** Working image and checker; without them states are only counted. */
  readonly image?: string;
  readonly exec?: string;
  readonly jobs?: number;
  /** Seconds a checker may run before its process group is killed and the state reported as timed out. */
  readonly timeout?: number;
  /** Device size in bytes (default: the existing image's size or what the log reaches, whichever is larger). */
  readonly size?: number;
  /** Check only states whose fingerprint falls in this shard (1-based): shards split the unique states exactly. */
  readonly shard?: Shard;
  /** A report of an earlier run of the same plan: states it checked are not checked again. */
  readonly resume?: ExploreReport;
  /** Where to keep the report up to date while running (so a killed run can resume). */
  readonly reportPath?: string;
  readonly onProgress?: (s: ExploreSummary) => void;
  /** Stops the run: running checkers are killed, and the report says it is incomplete. */
  readonly signal?: AbortSignal;
}

const MAX_READ = 8 << 20;

/** The log by content, wherever it lies: sha256 of its bytes through the end of its last entry. */
async function logIdentity(log: FileSource, reader: LogReader): Promise<ExplorePlan['log']> {
  const S = reader.sectorSize;
  const { last } = await scanRange(reader, {});
  const bytes = last ? last.payloadOffset + Math.ceil(last.payloadLength / S) * S : S;
  const hash = crypto.createHash('sha256');
  const bytesOf = syncBytes(log);
  for (let at = 0; at < bytes; at += MAX_READ) hash.update(bytesOf.read(at, Math.min(MAX_READ, bytes - at)));
  return { sha256: hash.digest('hex'), bytes, entries: reader.nrEntries, sectorSize: S };
}

async function planOf(o: ExploreRunOptions, log: FileSource, reader: LogReader): Promise<ExplorePlan> {
  return {
    log: await logIdentity(log, reader),
    strategies: o.strategies,
    selection: o.selection,
    maxStates: o.maxStates ?? null,
    shard: o.shard ?? null,
    exec: o.exec ?? null,
    timeout: o.timeout ?? null,
  };
}

/** The counts, failures and fingerprints of a run, and the report they make. */
class Tally {
  readonly summary: ExploreSummary;
  private readonly failures: FailedState[];
  private readonly checked: string[];
  private readonly started = performance.now();

  constructor(
    private readonly plan: ExplorePlan,
    resume?: ExploreReport,
  ) {
    this.failures = [...(resume?.failures ?? [])];
    this.checked = [...(resume?.checked ?? [])];
    this.summary = {
      ...emptySummary(),
      checked: resume?.summary.checked ?? 0,
      failed: this.failures.length,
      timedOut: this.failures.filter((f) => f.timedOut).length,
    };
  }

  generated(s: ExploredState, explorer: Explorer): void {
    const sum = this.summary;
    if (s.epoch.index !== sum.lastEpoch) {
      sum.epochs++;
      sum.firstEpoch ??= s.epoch.index;
      sum.lastEpoch = s.epoch.index;
    }
    sum.generated = explorer.generated;
    sum.unique = explorer.unique;
    this.tick();
  }

  /** Every check has ended; complete unless the run stopped early. */
  finish(stopped: Stopped | null): void {
    this.summary.complete = !stopped;
    this.summary.stopped = stopped;
    this.tick();
  }

  private tick(): void {
    this.summary.seconds = (performance.now() - this.started) / 1000;
    this.summary.statesPerSecond = this.summary.generated / Math.max(this.summary.seconds, 1e-6);
  }

  checkedState(s: ExploredState, fingerprint: string, r: CheckResult): void {
    this.summary.checked++;
    this.checked.push(fingerprint);
    if (r.status === 0 && !r.timedOut) return;
    this.summary.failed++;
    if (r.timedOut) this.summary.timedOut++;
    this.failures.push({ id: s.id, epoch: s.epoch.index, fingerprint, ...describeState(s.epoch, s.included), ...r });
  }

  report(): ExploreReport {
    return {
      version: REPORT_VERSION,
      plan: this.plan,
      summary: { ...this.summary },
      failures: [...this.failures].sort(byLogOrder),
      checked: [...this.checked],
    };
  }
}

/** The working image at the durable prefix the exploration starts from, and `jobs - 1` copies of it. */
async function openImages(
  path: string,
  jobs: number,
  log: FileSource,
  reader: LogReader,
  explorer: Explorer,
  size?: number,
): Promise<ImageFile[]> {
  const main = await freshImage(path, log, reader, size);
  const images = [main];
  try {
    await replayLastWrites(reader, main.target, explorer.durable);
    for (let i = 1; i < jobs; i++) {
      copyImage(path, `${path}.job${i}`);
      images.push(new ImageFile(`${path}.job${i}`));
    }
  } catch (e) {
    closeImages(images);
    throw e;
  }
  return images;
}

/** Close the images; the copies (every image but the first) go away. */
function closeImages(images: readonly ImageFile[]): void {
  images.forEach((img, i) => {
    img.close();
    if (i > 0) fs.rmSync(img.path, { force: true });
  });
}

/** Explore, check and report. Rejects with the log's or the selection's errors before touching any image. */
export async function exploreLog(o: ExploreRunOptions): Promise<ExploreReport> {
  if ((o.image === undefined) !== (o.exec === undefined))
    throw new OptionsError('a working image and a checker go together');
  const log = openSource(o.log);
  let images: ImageFile[] = [];
  let explorer: Explorer | undefined;
  try {
    const reader = await LogReader.open(log);
    const plan = await planOf(o, log, reader);
    const differs = o.resume ? planDifference(o.resume.plan, plan) : [];
    if (differs.length)
      throw new ResumeMismatch(`the report to resume is of another log or plan (it differs in ${differs.join(', ')})`);
    explorer = await Explorer.open(reader, await loadNodeKernels(), o);
    const tally = new Tally(plan, o.resume);
    const checkedBefore = new Set(o.resume?.checked ?? []);
    // Checkers run bounded (in process groups of their own) either way; a run without a signal is never stopped.
    const signal = o.signal ?? new AbortController().signal;
    let saved = performance.now();
    if (o.image !== undefined)
      images = await openImages(o.image, Math.max(1, o.jobs ?? 1), log, reader, explorer, o.size);
    const logBytes = syncBytes(log);
    const cursors: Cursor[] = [];
    const pool = new Pool(images.length);
    let last: ExploredState | undefined;
    for await (const s of explorer.states()) {
      if (!cursors.length)
        for (const img of images) cursors.push(new Cursor(img.device, logBytes, reader.sectorSize, s.epoch));
      last = s;
      tally.generated(s, explorer);
      o.onProgress?.(tally.summary);
      if (o.reportPath && performance.now() - saved > 5000) {
        writeReport(o.reportPath, tally.report());
        saved = performance.now();
      }
      if (signal.aborted || pool.error !== undefined) break;
      if (!s.unique) continue;
      if (!inShard(s.fingerprint, o.shard)) {
        tally.summary.otherShards++;
        continue;
      }
      const fp = hex(s.fingerprint);
      if (checkedBefore.has(fp)) {
        tally.summary.resumed++;
        continue;
      }
      if (!images.length) continue;
      const slot = await pool.acquire();
      cursors[slot]!.goto(s.epoch, s.included);
      pool.run(
        slot,
        runCheck(o.exec!, images[slot]!.path, {
          env: { LOGWRITES_STATE: s.id },
          signal,
          ...(o.timeout !== undefined ? { timeoutMs: o.timeout * 1000 } : {}),
        }).then((r) => {
          // A checker we killed because the run stops said nothing about the state.
          if (!signal.aborted) tally.checkedState(s, fp, r);
        }),
      );
    }
    await pool.drain();
    const epoch = last?.epoch.index ?? null;
    tally.finish(
      signal.aborted ? { reason: 'interrupted', epoch } : explorer.truncated ? { reason: 'max-states', epoch } : null,
    );
    // Leave the working image at the durable prefix of the last epoch explored.
    if (last && cursors[0]) cursors[0].goto(last.epoch, new Uint8Array(last.epoch.writes.length));
    const r = tally.report();
    if (o.reportPath) writeReport(o.reportPath, r);
    return r;
  } finally {
    explorer?.dispose();
    closeImages(images);
    log.close();
  }
}

/** Write a report atomically: a reader (or a resume after a kill) never sees half of one. */
export function writeReport(path: string, r: ExploreReport): void {
  const tmp = `${path}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(r, null, 1) + '\n');
  fs.renameSync(tmp, path);
}

export function readReport(path: string): ExploreReport {
  let r: ExploreReport;
  try {
    r = JSON.parse(fs.readFileSync(path, 'utf8')) as ExploreReport;
  } catch (e) {
    if (e instanceof SyntaxError) throw new ReportError(`${path} is not an explore report (not JSON)`);
    throw e;
  }
  if (typeof r?.version === 'number' && r.version !== REPORT_VERSION)
    throw new ReportError(
      `${path} is an explore report of version ${r.version}; this logwrites reads version ${REPORT_VERSION} (run the exploration again)`,
    );
  if (r?.version !== REPORT_VERSION || !Array.isArray(r.checked) || !Array.isArray(r.failures) || !r.plan?.log)
    throw new ReportError(`${path} is not an explore report`);
  return r;
}

/** Rebuild exactly one state into `out` (created, or overwritten), sized as exploring sizes the working image. */
export async function materializeToFile(
  logPath: string,
  id: string,
  out: string,
  size?: number,
): Promise<MaterializedState> {
  const log = openSource(logPath);
  try {
    const reader = await LogReader.open(log);
    const state = await materializeState(reader, id);
    const img = await freshImage(out, log, reader, size);
    try {
      await replayLastWrites(reader, img.target, state.map);
    } finally {
      img.close();
    }
    return state;
  } finally {
    log.close();
  }
}
