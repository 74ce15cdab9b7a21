// The logging half of the log-writes target: which entries go into the log, in what order,
// and when they must be durable. Platform-neutral: the log is any LogDevice, the data device
// is the caller's business (it tells us when each request was issued and when it completed).
//
// Ordering follows drivers/md/dm-log-writes.c: completed writes and discards wait on an
// unflushed list; a flush takes the list as it stands when it is issued and logs it, then
// itself, when it completes; FUA writes are logged as they complete; marks at once.

import { encodeHeader, encodeSuper, END_MARK, Flag, isValidSectorSize, type HeaderFields } from './format.ts';
import { BadArgument, LogClosed, LogFullError } from './errors.ts';

/** Where log bytes go. Writes at distinct offsets may run concurrently. */
export interface LogDevice {
  write(offset: number, parts: readonly Uint8Array[]): void | Promise<void>;
  sync(): void | Promise<void>;
}

/** What to do when the log has no room: stop logging like the kernel, or refuse the IO. */
export type OnLogFull = 'disable' | 'fail';

export interface LogWriterOptions {
  sectorSize: number;
  /** Bytes the log may use (a block device's size, `--log-size`); unbounded when absent. */
  capacity?: number;
  onFull?: OnLogFull;
  /** Continue an existing log: entries it holds and the byte offset after the last one. */
  resume?: { entries: number; end: number };
}

/** Request flags the log records. `preflush` is REQ_PREFLUSH on a request that carries data. */
export interface IoFlags {
  fua?: boolean;
  preflush?: boolean;
  metadata?: boolean;
}

/**
 * One request as the data device sees it. Sectors count units of the log's sectorsize. An
 * empty flush may carry a sector and flags: the kernel's split of a flushing write leaves them.
 */
export type Io =
  | ({ kind: 'write'; sector: number; data: readonly Uint8Array[] } & IoFlags)
  | ({ kind: 'discard'; sector: number; nrSectors: number } & IoFlags)
  | ({ kind: 'flush'; sector?: number } & Omit<IoFlags, 'preflush'>);

interface Block {
  readonly header: Uint8Array;
  readonly payload: readonly Uint8Array[];
  /** Log bytes the entry takes. */
  readonly bytes: number;
  /** Log bytes held for it until it is logged (`onFull: 'fail'` only). */
  readonly reserved: number;
  /** Where its payload was written ahead of time, betting on where the entry will land. */
  staged?: { readonly at: number; readonly ok: Promise<boolean> };
}

/** A flush's place in the order flushes are logged in; `run` is set once it has completed. */
interface FlushTurn {
  run?: () => void;
}

/** An issued request the writer is waiting to hear completed. */
export interface Pending {
  readonly block: Block;
  readonly fua: boolean;
  /** The unflushed list this flush took when it was issued (undefined: not a flush). */
  readonly flushes?: readonly Block[];
  readonly turn?: FlushTurn;
}

const SECTOR = 512;

function flagsOf(io: Io): number {
  return (
    (io.kind === 'flush' || io.preflush ? Flag.FLUSH : 0) |
    (io.fua ? Flag.FUA : 0) |
    (io.kind === 'discard' ? Flag.DISCARD : 0) |
    (io.metadata ? Flag.METADATA : 0)
  );
}

/** A batch of log writes waiting for one sync and one super update. */
interface Commit {
  entries: number;
  writes: Promise<void>[];
  done: Promise<void>;
}

export class LogWriter {
  private readonly S: number;
  private readonly capacity: number;
  private readonly onFull: OnLogFull;
  private unflushed: Block[] = [];
  private logged: number;
  /** Next free byte of the log. */
  private next: number;
  /**
   * Where the next completed write would land if everything pending were logged in the order
   * expected. Payloads are written there as writes complete, so a flush usually finds them in
   * place and only adds headers: the log keeps pace with the data instead of trailing it.
   */
  private stageEnd: number;
  private readonly staging = new Set<Promise<boolean>>();
  /** Bytes promised to issued requests, the end mark included (`fail` mode only). */
  private reserved = 0;
  private enabled = true;
  private writes: Promise<void>[] = [];
  private superEntries: number;
  private chain: Promise<void> = Promise.resolve();
  private queued: Commit | undefined;
  private closed = false;
  /**
   * Flushes issued and not yet logged or cancelled, in issue order. A flush is logged only
   * after those issued before it: a write that completed before a flush was issued may sit in
   * an earlier flush's list, and the later flush must not be acknowledged while it is unlogged.
   */
  private turns: FlushTurn[] = [];

  private constructor(
    private readonly device: LogDevice,
    opts: LogWriterOptions,
  ) {
    if (!isValidSectorSize(opts.sectorSize)) throw new BadArgument(`bad sectorsize ${opts.sectorSize}`);
    this.S = opts.sectorSize;
    // The kernel measures the log device in whole 512-byte sectors.
    this.capacity = opts.capacity === undefined ? Infinity : Math.floor(opts.capacity / SECTOR) * SECTOR;
    this.onFull = opts.onFull ?? 'disable';
    this.logged = opts.resume?.entries ?? 0;
    this.next = opts.resume?.end ?? this.S;
    this.stageEnd = this.next;
    this.superEntries = this.logged;
    // The end mark's room is held from the start, so a log that refuses IO still closes cleanly.
    if (this.onFull === 'fail') this.reserve(this.S);
  }

  /** Start a log on `device`: a fresh super (or the resumed count), written and synced. */
  static async create(device: LogDevice, opts: LogWriterOptions): Promise<LogWriter> {
    const w = new LogWriter(device, opts);
    await w.commit(true);
    return w;
  }

  get sectorSize(): number {
    return this.S;
  }

  get loggingEnabled(): boolean {
    return this.enabled;
  }

  /** `dmsetup status` for the target: `<#logged entries> <highest allocated sector>`. */
  status(): string {
    return `${this.logged} ${this.next / SECTOR - 1}${this.enabled ? '' : ' logging_disabled'}`;
  }

  /**
   * A request reaches the data device. Call before passing it on: a flush takes the unflushed
   * list here. Throws LogFullError (under `onFull: 'fail'`) when its entry would not fit.
   */
  issue(io: Io): Pending {
    if (this.closed) throw new LogClosed();
    const block = this.block(io);
    const flushes = io.kind === 'flush' || io.preflush ? this.takeUnflushed() : undefined;
    if (!flushes) return { block, fua: !!io.fua };
    // A flush lands right after the writes it takes: leave room for it there.
    this.stageEnd += block.bytes;
    const turn: FlushTurn = {};
    this.turns.push(turn);
    return { block, fua: !!io.fua, flushes, turn };
  }

  /**
   * The request completed on the data device. Resolves once whatever this completion logged
   * is durable in the log with a super that counts it (at once for plain writes and discards).
   */
  complete(p: Pending): Promise<void> {
    const { flushes, turn } = p;
    if (flushes && turn) {
      return new Promise((resolve, reject) => {
        turn.run = () => void this.log([...flushes, p.block]).then(resolve, reject);
        this.takeTurns();
      });
    }
    if (p.fua) return this.log([p.block]);
    this.stage(p.block);
    this.unflushed.push(p.block);
    return Promise.resolve();
  }

  /**
   * Make staged payloads durable now. A caller about to flush the data device runs this
   * alongside, so the commit that follows has little left to sync but headers.
   */
  async syncStaged(): Promise<void> {
    if (!this.unflushed.length && !this.staging.size) return;
    await Promise.all(this.staging);
    await this.device.sync();
  }

  /** The request failed on the data device: nothing of it is logged; a flush gives its list back. */
  cancel(p: Pending): void {
    this.reserved -= p.block.reserved;
    if (p.flushes) this.unflushed = [...p.flushes, ...this.unflushed];
    if (p.turn) {
      this.turns = this.turns.filter((t) => t !== p.turn);
      this.takeTurns();
    }
  }

  /**
   * Log a mark now (`dmsetup message <dev> 0 mark <text>`); resolves once it is durable.
   * Throws LogFullError (under `onFull: 'fail'`) when it would not fit.
   */
  async mark(text: string): Promise<void> {
    if (this.closed) throw new LogClosed();
    await this.log([this.markBlock(text)]);
  }

  /**
   * Close the log as the kernel's destructor does: splice writes that never saw a flush, then
   * the end mark. Call once every issued request has completed or been cancelled.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const rest = this.takeUnflushed();
    // The end mark uses the room held for it since the start.
    if (this.onFull === 'fail') this.reserved -= this.S;
    await this.log([...rest, this.entry({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: END_MARK }, [], false)]);
  }

  private block(io: Io): Block {
    const flags = flagsOf(io);
    if (io.kind === 'flush') return this.entry({ sector: io.sector ?? 0, nrSectors: 0, flags }, [], true);
    if (io.kind === 'discard') return this.entry({ sector: io.sector, nrSectors: io.nrSectors, flags }, [], true);
    let len = 0;
    for (const d of io.data) len += d.length;
    if (len % this.S) throw new BadArgument(`write of ${len} bytes is not a multiple of the ${this.S}-byte sectorsize`);
    return this.entry({ sector: io.sector, nrSectors: len / this.S, flags }, io.data, true);
  }

  private markBlock(text: string): Block {
    return this.entry({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: text }, [], true);
  }

  /** An encoded entry, with its room held when the log must refuse rather than drop (`hold`). */
  private entry(h: HeaderFields, payload: readonly Uint8Array[], hold: boolean): Block {
    const bytes = this.S + (h.flags & Flag.DISCARD ? 0 : h.nrSectors * this.S);
    const reserved = hold && this.onFull === 'fail' ? this.reserve(bytes) : 0;
    return { header: encodeHeader(h, this.S), payload, bytes, reserved };
  }

  private stage(b: Block): void {
    const at = this.stageEnd;
    this.stageEnd += b.bytes;
    if (!this.enabled || !b.payload.length || this.stageEnd >= this.capacity) return;
    // Header sectors stay unwritten until the entry is logged, so no reader mistakes a staged
    // write for a logged one.
    const ok = Promise.resolve(this.device.write(at + this.S, b.payload)).then(
      () => true,
      () => false,
    );
    b.staged = { at, ok };
    this.staging.add(ok);
    void ok.then(() => this.staging.delete(ok));
  }

  /** Log the completed flushes at the head of the issue order. */
  private takeTurns(): void {
    while (this.turns[0]?.run) this.turns.shift()!.run!();
  }

  private takeUnflushed(): Block[] {
    const list = this.unflushed;
    this.unflushed = [];
    return list;
  }

  /** Hold `bytes` of log for a request, keeping the kernel's rule that the last sector stays unused. */
  private reserve(bytes: number): number {
    if (this.next + this.reserved + bytes >= this.capacity) throw new LogFullError(bytes);
    this.reserved += bytes;
    return bytes;
  }

  /**
   * Give blocks their places in the log, in order, as the kernel's logging thread does: an
   * entry that would reach the end of the log turns logging off (its space stays counted).
   */
  private log(blocks: readonly Block[]): Promise<void> {
    for (const b of blocks) this.reserved -= b.reserved;
    // Staged payloads still in flight may sit where these entries go: let them land first.
    const barrier = Promise.all(this.staging);
    const jobs: Promise<void>[] = [];
    const write = (at: number, parts: Uint8Array[]) => jobs.push(barrier.then(() => this.device.write(at, parts)));
    let run: Uint8Array[] = [];
    let runAt = this.next;
    for (const b of blocks) {
      if (!this.enabled) break;
      const at = this.next;
      this.next += b.bytes;
      if (this.next >= this.capacity) {
        this.enabled = false;
        break;
      }
      this.logged++;
      const staged = b.staged;
      if (staged?.at === at) {
        if (run.length) write(runAt, run);
        run = [];
        runAt = this.next;
        jobs.push(
          barrier.then(async () => this.device.write(at, (await staged.ok) ? [b.header] : [b.header, ...b.payload])),
        );
      } else run.push(b.header, ...b.payload);
    }
    if (run.length) write(runAt, run);
    this.stageEnd = Math.max(this.stageEnd, this.next);
    if (!jobs.length) return Promise.resolve();
    this.writes.push(
      Promise.all(jobs).then(
        () => undefined,
        (e: unknown) => {
          // The kernel stops logging when a log write fails; so do we, and the caller hears why.
          this.enabled = false;
          throw e;
        },
      ),
    );
    return this.commit();
  }

  /**
   * Make every log write issued so far durable, then the super that counts them, then that.
   * Two syncs, so that a crash never leaves a super counting entries that are not on disk.
   * Calls that arrive while an earlier commit runs share the next one (group commit).
   */
  private commit(force = false): Promise<void> {
    const writes = this.writes;
    this.writes = [];
    if (this.queued) {
      this.queued.entries = this.logged;
      this.queued.writes.push(...writes);
      return this.queued.done;
    }
    const c: Commit = { entries: this.logged, writes, done: Promise.resolve() };
    this.queued = c;
    c.done = this.chain.then(async () => {
      this.queued = undefined;
      await Promise.all(c.writes);
      await this.device.sync();
      if (c.entries === this.superEntries && !force) return;
      await this.device.write(0, [encodeSuper({ nrEntries: c.entries, sectorSize: this.S })]);
      await this.device.sync();
      this.superEntries = c.entries;
    });
    this.chain = c.done.catch(() => undefined);
    return c.done;
  }
}
