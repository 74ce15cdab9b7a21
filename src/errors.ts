// Every error logwrites throws on purpose, on one base with a stable `code` and `name`, so
// each boundary maps errors once, by code: to an exit status (src/cli), to upstream's message
// (replay-log), to an NBD errno (the server) and across the worker boundary (toJSON /
// fromJSON). Anything else that reaches a boundary is a bug, shown with its stack.
// Platform-neutral: the core, the browser and Node share it.

import { Flag, type ProblemKind } from './format.ts';
import type { Entry } from './reader.ts';
import { plural, sectorsText } from './units.ts';
import type { FsName } from './fs/what.ts';

/** Every code, one per class. */
export type ErrorCode =
  | 'EFORMAT'
  | 'ELOGFULL'
  | 'ENOTFOUND'
  | 'EPASTTARGET'
  | 'EPASTEND'
  | 'ETOOSMALL'
  | 'EREPLAY'
  | 'ECANCELLED'
  | 'EEMPTY'
  | 'ESTATEID'
  | 'EMERGE'
  | 'ESHARD'
  | 'EFSMETA'
  | 'EKERNEL'
  | 'EBADCALL'
  | 'EINTERNAL'
  | 'EIMAGESMALL'
  | 'EHTTP'
  | 'EUSAGE'
  | 'ERESUME'
  | 'EREPORT'
  | 'ENBD'
  | 'EREFUSED'
  | 'EHELD'
  | 'ESERVE';

/** An error as it crosses a boundary that carries data only (a worker's postMessage). */
export interface ErrorJSON {
  readonly code: ErrorCode;
  readonly name: string;
  readonly message: string;
}

export abstract class LogwritesError extends Error {
  abstract readonly code: ErrorCode;
  abstract override readonly name: string;

  toJSON(): ErrorJSON {
    return { code: this.code, name: this.name, message: this.message };
  }

  /** The error again on the other side of a boundary: its code, name and message, no stack. */
  static fromJSON(json: ErrorJSON): LogwritesError {
    return new RemoteError(json);
  }
}

/** An error thrown on the other side of a boundary (a worker), as LogwritesError.fromJSON rebuilt it. */
export class RemoteError extends LogwritesError {
  readonly code: ErrorCode;
  override readonly name: string;
  constructor(json: ErrorJSON) {
    super(json.message);
    this.code = json.code;
    this.name = json.name;
  }
}

export const isLogwritesError = (e: unknown): e is LogwritesError => e instanceof LogwritesError;

// --- the log ----------------------------------------------------------------------------

/** Where in the log a problem sits: `entry` is absent for the super. */
export class LogFormatError extends LogwritesError {
  readonly code = 'EFORMAT';
  override readonly name = 'LogFormatError';
  constructor(
    readonly offset: number,
    readonly reason: string,
    readonly entry?: number,
    readonly kind: ProblemKind = entry === undefined ? 'super' : 'malformed',
  ) {
    super(`${entry !== undefined ? `entry ${entry}` : kind === 'super' ? 'super' : 'log'} at byte ${offset}: ${reason}`);
  }
}

/** The log has no room for this request and the writer was told to fail rather than drop. */
export class LogFullError extends LogwritesError {
  readonly code = 'ELOGFULL';
  override readonly name = 'LogFullError';
  constructor(need: number) {
    super(`log full: no room for ${need} more bytes`);
  }
}

/** A point the range names is not in the log. */
export class RangeNotFound extends LogwritesError {
  readonly code = 'ENOTFOUND';
  override readonly name = 'RangeNotFound';
}

// --- targets and replay -----------------------------------------------------------------

/** An entry of the range reaches past the end of the target. */
export class PastTarget extends LogwritesError {
  readonly code = 'EPASTTARGET';
  override readonly name = 'PastTarget';
  constructor(
    readonly entry: Entry,
    readonly targetSectors: number,
  ) {
    super(`entry ${entry.index} at byte ${entry.offset} ${entry.flags & Flag.DISCARD ? 'discards' : 'writes'} ${sectorsText(entry.sector, entry.nrSectors)}, past the end of the target (${plural(targetSectors, 'sector')})`);
  }
}

/** An entry that would write or zero bytes past the end of a fixed-size target. */
export class PastTargetEnd extends LogwritesError {
  readonly code = 'EPASTEND';
  override readonly name = 'PastTargetEnd';
  constructor(
    readonly entry: number,
    readonly offset: number,
    readonly end: number,
    readonly size: number,
  ) {
    super(`entry ${entry} at byte ${offset}: reaches target byte ${end}, past the end of the ${size}-byte target`);
  }
}

/** A fixed-size target refused a write or discard reaching past its end (whoever issued it). */
export class TargetTooSmall extends LogwritesError {
  readonly code = 'ETOOSMALL';
  override readonly name = 'TargetTooSmall';
  constructor(
    readonly target: string,
    readonly end: number,
    readonly size: number,
  ) {
    super(`${target}: a write reaches byte ${end}, past the end of the ${size}-byte target`);
  }
}

/** The viewer's in-memory image is smaller than a write of the log. */
export class ImageTooSmall extends LogwritesError {
  readonly code = 'EIMAGESMALL';
  override readonly name = 'ImageTooSmall';
  constructor(end: number, size: number) {
    super(`a write reaches byte ${end}, past the end of the ${size}-byte image: choose a larger device size`);
  }
}

/** A log error met during replay, with what the target holds now. */
export class ReplayError extends LogwritesError {
  readonly code = 'EREPLAY';
  override readonly name = 'ReplayError';
  constructor(
    override readonly cause: LogFormatError | PastTargetEnd,
    readonly progress: string,
    readonly last?: Entry,
  ) {
    super(`${cause.message} (${progress})`);
  }
}

/** Work stopped because its caller asked. */
export class Cancelled extends LogwritesError {
  readonly code = 'ECANCELLED';
  override readonly name = 'Cancelled';
  constructor() {
    super('cancelled');
  }
}

// --- explore ----------------------------------------------------------------------------

/** The selection names no epoch of the log. */
export class EmptySelection extends LogwritesError {
  readonly code = 'EEMPTY';
  override readonly name = 'EmptySelection';
}

/** A state id that does not parse, or names no state of the log. */
export class StateIdError extends LogwritesError {
  readonly code = 'ESTATEID';
  override readonly name = 'StateIdError';
}

/** Reports that cannot be merged: of different runs, or not the whole set of shards. */
export class MergeError extends LogwritesError {
  readonly code = 'EMERGE';
  override readonly name = 'MergeError';
}

/** The environment names no shard, or names one inconsistently. */
export class ShardError extends LogwritesError {
  readonly code = 'ESHARD';
  override readonly name = 'ShardError';
}

/** A report to resume from that belongs to another run. */
export class ResumeMismatch extends LogwritesError {
  readonly code = 'ERESUME';
  override readonly name = 'ResumeMismatch';
}

/** A file that is not a report this version reads. */
export class ReportError extends LogwritesError {
  readonly code = 'EREPORT';
  override readonly name = 'ReportError';
}

// --- file systems -----------------------------------------------------------------------

/** A file system was recognised but its metadata could not be read as such. */
export class FsError extends LogwritesError {
  readonly code = 'EFSMETA';
  override readonly name = 'FsError';
  constructor(fs: FsName, cause: unknown) {
    super(`${fs} metadata could not be read: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

// --- platform additions -----------------------------------------------------------------

/**
 * A kernel called outside what it takes (a sector size that is not one, a write of part of a
 * sector, a fingerprint used after dispose()), or the wasm module aborting (its memory cannot grow).
 */
export class KernelError extends LogwritesError {
  readonly code = 'EKERNEL';
  override readonly name = 'KernelError';
}

/** A call the viewer's worker cannot answer: no log open, no state yet, an entry the log does not have. */
export class BadCall extends LogwritesError {
  readonly code = 'EBADCALL';
  override readonly name = 'BadCall';
}

/**
 * Something not of this family, thrown where a boundary carries data only (the viewer's
 * worker): a bug or the platform's own error. It crosses as EINTERNAL with its message.
 */
export class InternalError extends LogwritesError {
  readonly code = 'EINTERNAL';
  override readonly name = 'InternalError';
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
  }

  /** `e` itself when it is of the family, else `e` as an InternalError. */
  static wrap(e: unknown): LogwritesError {
    return e instanceof LogwritesError ? e : new InternalError(e);
  }
}

// --- the viewer -------------------------------------------------------------------------

/** A log served over HTTP that cannot be read by ranges. */
export class HttpSourceError extends LogwritesError {
  readonly code = 'EHTTP';
  override readonly name = 'HttpSourceError';
  constructor(url: string, what: string) {
    super(`${url}: ${what}`);
  }
}

// --- commands and servers ---------------------------------------------------------------

/** An error the user caused or can fix: printed as one line, no stack. */
export class CliError extends LogwritesError {
  readonly code = 'EUSAGE';
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** A bad invocation of serve: one line for the user, no stack. */
export class ServeError extends LogwritesError {
  readonly code = 'ESERVE';
  override readonly name = 'ServeError';
}

/** A request the backend refuses with a specific NBD error (anything else thrown is EIO). */
export class NbdError extends LogwritesError {
  readonly code = 'ENBD';
  override readonly name = 'NbdError';
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** A write the guard refused: one line naming the target and the reason. */
export class WriteRefused extends LogwritesError {
  readonly code = 'EREFUSED';
  override readonly name = 'WriteRefused';
  constructor(
    verb: string,
    readonly reason: string,
  ) {
    super(`refusing to ${verb}: ${reason} (--force to do it anyway)`);
  }
}

/** What a running serve's hold says of it (src/node/guard/holds.ts). */
export interface Holder {
  readonly pid: number;
  readonly role: string;
  readonly path: string;
}

/** A file a running serve holds. */
export class HeldError extends LogwritesError {
  readonly code = 'EHELD';
  override readonly name = 'HeldError';
  constructor(
    readonly target: string,
    readonly holder: Holder,
  ) {
    super(heldText(target, holder));
  }
}

export const heldText = (name: string, h: Holder) => `${name} is held by a running logwrites serve (pid ${h.pid}, as its ${h.role} ${h.path})`;
