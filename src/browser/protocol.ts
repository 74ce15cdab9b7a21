// The messages between the viewer page and its worker: each call names its arguments, its
// progress reports and its result, so both ends are checked against one table.

import type { Diff, StatePoint as Point, SectorPair } from './device-state.ts';
import type { LogIndex, Summary } from '../entry-index/log-index.ts';
import type { GroupSummary } from '../fs/summary.ts';
import type { EntryClasses } from '../fs/classes.ts';
import type { FsName, What } from '../fs/what.ts';
import type { ErrorJSON } from '../errors.ts';

/** What an entry's bytes are to the file system (see src/fs/log-state.ts for the state used). */
export interface EntryFs {
  readonly fs: FsName | null;
  /** The entry whose state answered (a mark, or the log's last entry). */
  readonly state: number;
  readonly pieces: readonly (What & { readonly offset: number; readonly length: number })[];
}

/** A diff's changes named by the file system in the state at B (null when none was recognised). */
export interface DiffFs {
  readonly fs: FsName | null;
  readonly summary: readonly GroupSummary[];
  readonly text: string;
}

export type SourceSpec =
  | { readonly kind: 'blob'; readonly blob: Blob; readonly name: string }
  | { readonly kind: 'url'; readonly url: string; readonly name: string };

/** Bytes of payload per hex-dump page. */
export const PAGE_BYTES = 4096;

export interface EntryDetail {
  readonly index: number;
  readonly offset: number;
  readonly payloadOffset: number;
  readonly payloadLength: number;
  readonly sector: number;
  readonly nrSectors: number;
  readonly flags: number;
  readonly flagsHigh: number;
  readonly flagNames: string;
  readonly dataLen: number;
  readonly mark?: string;
  readonly page: number;
  readonly pages: number;
  /** Payload bytes of this page. */
  readonly bytes: Uint8Array;
  /** Hex checksums of the whole payload; absent when there is none. */
  readonly crc32c?: string;
  readonly xxh64?: string;
}

export interface Opened {
  readonly summary: Summary;
  readonly index: LogIndex;
  readonly kernels: 'wasm' | 'js';
}

export interface Calls {
  /** Open and index a log; progress is the summary so far. */
  open: { args: { source: SourceSpec }; progress: Summary; result: Opened };
  entry: { args: { index: number; page: number }; progress: never; result: EntryDetail };
  /** What entry `index` wrote, to the file system on the device. */
  what: { args: { index: number }; progress: never; result: EntryFs };
  /** Every entry's structure class (src/fs/classes.ts), computed once per log. */
  classes: { args: Record<string, never>; progress: never; result: EntryClasses };
  /** Replay into memory up to entry `at` on a device of `deviceBytes`. */
  state: { args: { at: number; deviceBytes: number }; progress: never; result: Point };
  diff: {
    args: { a: number; b: number; deviceBytes: number };
    progress: never;
    result: Diff & { readonly fs: DiffFs };
  };
  /** One sector's bytes after entry a and after entry b. */
  sector: { args: { a: number; b: number; sector: number; deviceBytes: number }; progress: never; result: SectorPair };
  /** The image as it is now, for download. */
  image: { args: Record<string, never>; progress: never; result: { blob: Blob; point: Point } };
  /** Stop call `id` (an open or a replay) at its next step. */
  cancel: { args: { id: number }; progress: never; result: null };
}

export type CallName = keyof Calls;
export type Args<K extends CallName> = Calls[K]['args'];
export type Result<K extends CallName> = Calls[K]['result'];
export type Progress<K extends CallName> = Calls[K]['progress'];

export type Request = { [K in CallName]: { readonly id: number; readonly call: K; readonly args: Args<K> } }[CallName];

export type Reply =
  | { readonly id: number; readonly kind: 'progress'; readonly progress: unknown }
  | { readonly id: number; readonly kind: 'result'; readonly result: unknown }
  | { readonly id: number; readonly kind: 'error'; readonly error: ErrorJSON };

/** What both a Worker (or its global scope) and a MessagePort offer. */
export interface Port {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (ev: MessageEvent) => void): void;
  start?(): void;
}
