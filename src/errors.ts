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
  | 'ETOOSMALL'
  | 'EREPLAY'
  | 'ECANCELLED'
  | 'EARG'
  | 'ECLOSED'
  | 'ENOPOINT'
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
  | 'ESERVE'
  | 'ESHORTREAD'
  | 'EVIEWER'
  | 'EWORKIMAGE'
  | 'EOPTIONS'
  | 'ETARGET'
  | 'EREWRITE'
  | 'EDEMO'
  | 'EPLOT'
  | 'ESERVER';

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
    super(
      `${entry !== undefined ? `entry ${entry}` : kind === 'super' ? 'super' : 'log'} at byte ${offset}: ${reason}`,
    );
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

/** How big the target an entry did not fit was: in sectors (a range's check), or in bytes with where the entry ends (the replay loop's). */
export type TargetExtent = { readonly sectors: number } | { readonly bytes: number; readonly end: number };

/**
 * An entry reaching past the end of a fixed-size target: found by a range's check before
 * anything is written, or by the replay loop when nothing checked before it.
 */
export class PastTarget extends LogwritesError {
  readonly code = 'EPASTTARGET';
  override readonly name = 'PastTarget';
  constructor(
    readonly entry: Entry,
    readonly target: TargetExtent,
  ) {
    super(
      'sectors' in target
        ? `entry ${entry.index} at byte ${entry.offset} ${entry.flags & Flag.DISCARD ? 'discards' : 'writes'} ${sectorsText(entry.sector, entry.nrSectors)}, past the end of the target (${plural(target.sectors, 'sector')})`
        : `entry ${entry.index} at byte ${entry.offset}: reaches target byte ${target.end}, past the end of the ${target.bytes}-byte target`,
    );
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

/**
 * The viewer's in-memory image is smaller than a write of the log. Kept apart from
 * TargetTooSmall: the user chose this size in the page and is told to choose another, and the
 * page tells it by its own code across the worker boundary.
 */
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
    override readonly cause: LogFormatError | PastTarget,
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

// --- core additions ---------------------------------------------------------------------

/** An argument a core function refuses: a bad sector size, flag name or size text, a request out of range. */
export class BadArgument extends LogwritesError {
  readonly code = 'EARG';
  override readonly name = 'BadArgument';
}

/** A log writer, or a log read in place, used after it was closed. */
export class LogClosed extends LogwritesError {
  readonly code = 'ECLOSED';
  override readonly name = 'LogClosed';
  constructor() {
    super('log closed');
  }
}

/**
 * A payload the log does not hold whole: an entry's (its header named), or the data a sector
 * map points at for a device sector (the last-write plan reads by log offset, not by entry).
 */
export type CutPayload =
  | Pick<Entry, 'index' | 'offset' | 'payloadOffset' | 'payloadLength'>
  | { readonly deviceSector: number; readonly need: number };

/** The one error for a payload cut short: `logEnd` is where the log (or what was read of it) ends. */
export function truncatedPayload(p: CutPayload, logEnd: number): LogFormatError {
  if ('deviceSector' in p) {
    return new LogFormatError(
      logEnd,
      `truncated payload: the data of device sector ${p.deviceSector} needs the log to reach byte ${p.need}, it ends at ${logEnd}`,
      undefined,
      'truncated-payload',
    );
  }
  const need = p.payloadOffset + p.payloadLength;
  return new LogFormatError(
    p.offset,
    `truncated payload: ${p.payloadLength} bytes need the log to reach byte ${need}, it ends at ${logEnd}`,
    p.index,
    'truncated-payload',
  );
}

/** A point (an entry, a mark, `end`) no entry of the log is at; `role` is the end of a range it was asked as. */
export class PointNotFound extends LogwritesError {
  readonly code = 'ENOPOINT';
  override readonly name = 'PointNotFound';
  constructor(
    readonly point: string,
    readonly role?: 'from' | 'to',
  ) {
    super(`${point} is not in the log`);
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

/** The replay-log server cannot start: its socket's folder is unsafe, or another server listens there. */
export class ReplayLogServerError extends LogwritesError {
  readonly code = 'ESERVER';
  override readonly name = 'ReplayLogServerError';
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

export const heldText = (name: string, h: Holder) =>
  `${name} is held by a running logwrites serve (pid ${h.pid}, as its ${h.role} ${h.path})`;

// --- node side

/** A file ended before a read of bytes the caller knows are there (the data device of serve). */
export class ShortRead extends LogwritesError {
  readonly code = 'ESHORTREAD';
  override readonly name = 'ShortRead';
  constructor(readonly offset: number) {
    super(`short read at byte ${offset}`);
  }
}

/** The viewer's server cannot start: its page is not built. */
export class ViewerError extends LogwritesError {
  readonly code = 'EVIEWER';
  override readonly name = 'ViewerError';
}

/** explore will not overwrite this file as a working image (write-guard.ts says why). */
export class WorkImageRefused extends LogwritesError {
  readonly code = 'EWORKIMAGE';
  override readonly name = 'WorkImageRefused';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`refusing to write ${path}: ${reason}`);
  }
}

/** A Node-side library function given options that do not go together. */
export class OptionsError extends LogwritesError {
  readonly code = 'EOPTIONS';
  override readonly name = 'OptionsError';
}

/** A replay target that cannot be opened: missing, a folder, or refused by the system. */
export class TargetError extends LogwritesError {
  readonly code = 'ETARGET';
  override readonly name = 'TargetError';
}

/** `recover --write` could not rewrite the super, or the log does not read back as rewritten. */
export class RewriteError extends LogwritesError {
  readonly code = 'EREWRITE';
  override readonly name = 'RewriteError';
}

/** The demo's sample log is not where the package puts it. */
export class DemoError extends LogwritesError {
  readonly code = 'EDEMO';
  override readonly name = 'DemoError';
}

/** A plot that cannot be drawn as asked (a point not in the log, a window that ends before it starts) or written there. */
export class PlotError extends LogwritesError {
  readonly code = 'EPLOT';
  override readonly name = 'PlotError';
}
