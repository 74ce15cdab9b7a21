// The worker's end of the viewer protocol: it owns the open log, its index and the device
// state, so reading, hashing and replaying never block the page.

import { decodeHeader, flagNames, payloadBytes } from '../format.ts';
import type { Kernels } from '../kernels/load.ts';
import { LogReader, type Entry } from '../reader.ts';
import { blobSource } from './blob-source.ts';
import { DeviceState } from './device-state.ts';
import { httpSource, type HttpSourceOptions } from './http-source.ts';
import { indexLog } from '../entry-index/build.ts';
import { indexBuffers } from '../entry-index/log-index.ts';
import {
  PAGE_BYTES,
  type Args,
  type DiffFs,
  type EntryDetail,
  type EntryFs,
  type Port,
  type Request,
  type SourceSpec,
} from './protocol.ts';
import { annotate } from '../fs/detect.ts';
import { annotateEntries } from '../fs/log-state.ts';
import { describeRanges, piecesJson, summarize, summaryText } from '../fs/summary.ts';
import { memorySource } from '../reader.ts';
import { entryClasses, type EntryClasses } from '../fs/classes.ts';
import { BadCall, InternalError } from '../errors.ts';

interface OpenLog {
  readonly reader: LogReader;
  /** The worker's copy of the offset column; the page gets the index itself. */
  readonly offsets: Float64Array;
  /** Every entry's structure class, once asked for (it walks the log's states: ~130 ms on ext4-fsync-many). */
  classes?: Promise<EntryClasses>;
}

/**
 * Bytes per read when indexing. Each Blob or range read costs a round trip to the browser
 * process: a 1 GiB log indexed in 2.9 s with 1 MiB reads, 2.0 s with 4 MiB, 1.5 s with 8 MiB
 * (bench/viewer). Two reads are in flight with the read-ahead, and garbage collection keeps
 * more of the larger ones: 4 MiB leaves the page at ~157 MiB, 8 MiB at 155-227 MiB. 4 MiB keeps
 * both the time (< 3 s) and the memory (< 200 MB) targets.
 */
const WALK_CHUNK = 4 * 1024 * 1024;

type Outcome = [result: unknown, transfer: Transferable[]];

export function serveViewer(port: Port, loadKernels: () => Promise<Kernels>, http: HttpSourceOptions = {}): void {
  const service = new ViewerService(loadKernels, http);
  port.addEventListener('message', (ev) => void service.handle(ev.data as Request, port));
  port.start?.();
}

const hex = (n: number | bigint, digits: number) => n.toString(16).padStart(digits, '0');

class ViewerService {
  private log?: OpenLog;
  private state?: DeviceState;
  private readonly running = new Map<number, AbortController>();
  /** Replays share one image, so they run one after another. */
  private stateQueue: Promise<unknown> = Promise.resolve();
  private readonly kernels: Promise<Kernels>;
  private checksums?: { index: number; crc32c: string; xxh64: string };

  constructor(
    loadKernels: () => Promise<Kernels>,
    private readonly http: HttpSourceOptions,
  ) {
    this.kernels = loadKernels();
  }

  async handle(req: Request, port: Port): Promise<void> {
    const abort = new AbortController();
    this.running.set(req.id, abort);
    try {
      const progress = (p: unknown) => port.postMessage({ id: req.id, kind: 'progress', progress: p });
      const [result, transfer] = await this.run(req, abort.signal, progress);
      port.postMessage({ id: req.id, kind: 'result', result }, transfer);
    } catch (e) {
      // The page branches on the code (ECANCELLED, ...); a stray error keeps its message.
      port.postMessage({ id: req.id, kind: 'error', error: InternalError.wrap(e).toJSON() });
    } finally {
      this.running.delete(req.id);
    }
  }

  private run(req: Request, signal: AbortSignal, progress: (p: unknown) => void): Promise<Outcome> {
    switch (req.call) {
      case 'open':
        return this.open(req.args.source, signal, progress);
      case 'entry':
        return this.entry(req.args);
      case 'what':
        return this.what(req.args.index);
      case 'classes':
        return this.classes();
      case 'state':
        return this.queued(async () => [await (await this.device(req.args.deviceBytes)).goTo(req.args.at, signal), []]);
      case 'diff':
        return this.queued(async () => {
          const state = await this.device(req.args.deviceBytes);
          const d = await state.diff(req.args.a, req.args.b, signal);
          return [{ ...d, fs: await this.diffFs(state, d.runs) }, []];
        });
      case 'sector':
        return this.queued(async () => {
          const { a, b, sector, deviceBytes } = req.args;
          const pair = await (await this.device(deviceBytes)).compareSector(a, b, sector, signal);
          return [pair, [pair.before.buffer as ArrayBuffer, pair.after.buffer as ArrayBuffer]];
        });
      case 'image':
        return this.queued(async () => {
          if (!this.state) throw new BadCall('no state yet: replay to a point first');
          return [{ blob: new Blob([this.state.image]), point: this.state.point() }, []];
        });
      case 'cancel':
        this.running.get(req.args.id)?.abort();
        return Promise.resolve([null, []]);
    }
  }

  private async open(spec: SourceSpec, signal: AbortSignal, progress: (p: unknown) => void): Promise<Outcome> {
    for (const [, other] of this.running) if (other.signal !== signal) other.abort();
    this.state?.dispose();
    this.state = undefined;
    this.log = undefined;
    this.checksums = undefined;
    const source = spec.kind === 'blob' ? blobSource(spec.blob) : await httpSource(spec.url, fetch, this.http);
    const reader = await LogReader.open(source);
    const { index, summary } = await indexLog(reader, {
      name: spec.name,
      signal,
      onProgress: progress,
      chunkSize: WALK_CHUNK,
    });
    this.log = { reader, offsets: index.offset.slice() };
    const kernels = await this.kernels;
    return [{ summary, index, kernels: kernels.kind }, indexBuffers(index)];
  }

  private opened(): OpenLog {
    if (!this.log) throw new BadCall('no log open');
    return this.log;
  }

  /** Entry `i` of the open log, from its header. */
  private async entryAt(i: number): Promise<Entry> {
    const { reader, offsets } = this.opened();
    if (!(i >= 0 && i < offsets.length)) throw new BadCall(`no entry ${i} (the log has ${offsets.length})`);
    const S = reader.sectorSize;
    const offset = offsets[i]!;
    const header = decodeHeader(await reader.source.read(offset, S), S, offset, i);
    return { ...header, index: i, offset, payloadOffset: offset + S, payloadLength: payloadBytes(header, S) };
  }

  private async what(i: number): Promise<Outcome> {
    const entry = await this.entryAt(i);
    const reader = this.opened().reader;
    for await (const a of annotateEntries(reader, [entry], { pastEnd: i >= reader.nrEntries })) {
      const result: EntryFs = { fs: a.fs ?? null, state: a.state, pieces: piecesJson(a.pieces) };
      return [result, []];
    }
    throw new BadCall(`entry ${i} was not reached`);
  }

  private async classes(): Promise<Outcome> {
    const log = this.opened();
    log.classes ??= entryClasses(log.reader, log.offsets.length);
    // A copy goes to the page; the worker keeps its own for the next call.
    const { fs, classes } = await log.classes;
    const copy = classes.slice();
    return [{ fs, classes: copy }, [copy.buffer as ArrayBuffer]];
  }

  /** The diff's changed sectors named in the image's state (B), grouped by file and structure. */
  private async diffFs(state: DeviceState, runs: readonly [number, number][]): Promise<DiffFs> {
    const S = this.opened().reader.sectorSize;
    const source = memorySource(state.image);
    const annotator = await annotate(source);
    if (!annotator) return { fs: null, summary: [], text: '' };
    const pieces = await describeRanges(
      annotator,
      source,
      runs.map(([s, n]) => [s * S, (s + n) * S] as const),
    );
    const summary = summarize(pieces.flat(), annotator.blockSize);
    return { fs: annotator.fs, summary, text: summaryText(summary) };
  }

  private async entry({ index: i, page }: Args<'entry'>): Promise<Outcome> {
    const { reader } = this.opened();
    const entry = await this.entryAt(i);
    const { payloadLength, offset } = entry;
    const pages = Math.max(1, Math.ceil(payloadLength / PAGE_BYTES));
    const p = Math.min(Math.max(0, page), pages - 1);
    const from = entry.payloadOffset + p * PAGE_BYTES;
    const bytes = payloadLength
      ? await reader.source.read(from, Math.min(PAGE_BYTES, payloadLength - p * PAGE_BYTES))
      : new Uint8Array(0);
    const sums = payloadLength ? await this.checksum(entry) : undefined;
    const detail: EntryDetail = {
      index: i,
      offset,
      payloadOffset: entry.payloadOffset,
      payloadLength,
      sector: entry.sector,
      nrSectors: entry.nrSectors,
      flags: entry.flags,
      flagsHigh: entry.flagsHigh,
      flagNames: flagNames(entry.flags, entry.flagsHigh),
      dataLen: entry.dataLen,
      ...(entry.mark === undefined ? {} : { mark: entry.mark }),
      page: p,
      pages,
      bytes: bytes.slice(),
      ...(sums ? { crc32c: sums.crc32c, xxh64: sums.xxh64 } : {}),
    };
    return [detail, [detail.bytes.buffer as ArrayBuffer]];
  }

  /** crc32c and xxh64 of a payload, fed in pieces; kept for the entry being paged through. */
  private async checksum(entry: Entry): Promise<{ crc32c: string; xxh64: string }> {
    if (this.checksums?.index === entry.index) return this.checksums;
    const k = await this.kernels;
    let crc = 0;
    const xxh = k.xxh64Stream();
    for await (const piece of this.opened().reader.payload(entry)) {
      crc = k.crc32c(piece, crc);
      xxh.update(piece);
    }
    this.checksums = { index: entry.index, crc32c: hex(crc >>> 0, 8), xxh64: hex(xxh.digest(), 16) };
    return this.checksums;
  }

  private async device(deviceBytes: number): Promise<DeviceState> {
    const { reader, offsets } = this.opened();
    if (this.state?.image.length !== deviceBytes) {
      this.state?.dispose();
      this.state = undefined;
      this.state = new DeviceState(reader, offsets, await this.kernels, deviceBytes);
    }
    return this.state;
  }

  private queued(job: () => Promise<Outcome>): Promise<Outcome> {
    const run = this.stateQueue.then(job);
    this.stateQueue = run.catch(() => undefined);
    return run;
  }
}
