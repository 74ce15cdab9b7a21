// The optional native addon (src/node/addon/, built into dist/native.node by build.mjs when
// node-gyp and a compiler are there): kernel zeroing offloads, system(3), the replay-log
// server's side of its wire, many O_DIRECT writes at once, and logs mapped for reading in place.
// Everything that uses it has a pure-JS fallback, so a package installed without a compiler
// (or LOGWRITES_NO_ADDON=1) works the same, only slower.

import { createRequire } from 'node:module';

export interface Native {
  /** 0, or minus the errno. `op`: 0 BLKDISCARD, 1 BLKZEROOUT, 2 punch a hole (native.c). */
  zero(fd: number, op: number, offset: number, length: number): number;
  /** Write the file's dirty pages out, without a device cache flush (sync_file_range): 0, or minus the errno. */
  writeback(fd: number): number;
  /**
   * Write runs on an O_DIRECT fd, many in flight (runs.c): rows of [device offset, offset in
   * `from`, length], in device order. `from` is memory, a log's mapping among them. Resolves to
   * 0, or minus the first errno.
   */
  writeRuns(fd: number, from: Uint8Array, rows: Float64Array, count: number): Promise<number>;
  /** The first `length` bytes of the file at `fd`, mapped read-only (mapped.c), or minus the errno. */
  mapLog(fd: number, length: number): ArrayBuffer | number;
  /** Unmap a mapLog buffer at once and detach it (its views read as empty). */
  unmapLog(buffer: ArrayBuffer): void;
  /** Whether a read of the mapping found the file cut short (and read zeros there). */
  logCut(buffer: ArrayBuffer): boolean;
  /** Let go of the mapping's pages in [offset, offset + length) (they map again when read). */
  dropMapped(buffer: ArrayBuffer, offset: number, length: number): void;
  /** system(3)'s wait status, or -1. */
  system(command: string): number;
  /** Where the replay-log server listens (wire.h's rule, which its client follows too). */
  replayLogSocket(): string;
  /** One call's request off a new connection to the replay-log server (wire.h); throws when malformed or late. */
  receiveCall(fd: number): ReplayLogCall;
  /** Make the call's fds this process's 0, 1 and 2 (closing them); restoreStdio puts ours back. */
  adoptStdio(fd0: number, fd1: number, fd2: number): void;
  restoreStdio(): void;
  /** An anonymous file in memory (memfd_create), or minus the errno. */
  memfd(name: string): number;
  /** Whether a call's client hung up (its process ended). */
  peerGone(fd: number): boolean;
  /** Answer a call with its exit status, or a refusal (wire.h); false when the client is gone. */
  replyCall(fd: number, status: number): boolean;
  /** The refusals: the server is another build than the client (it runs the call itself), or the request was bad. */
  readonly REPLY_STALE: number;
  readonly REPLY_REFUSED: number;
}

/** A replay-log call as its client sent it: who, from which build, where, what, and its fds 0-2. */
export interface ReplayLogCall {
  readonly uid: number;
  readonly build: string;
  readonly cwd: string;
  readonly argv: string[];
  /** "NAME=value" */
  readonly env: string[];
  readonly fds: [number, number, number];
}

let native: Native | null | undefined;

/** The addon, or null when it is not built, cannot load, or LOGWRITES_NO_ADDON=1. */
export function loadNative(): Native | null {
  if (native !== undefined) return native;
  native = null;
  if (process.env.LOGWRITES_NO_ADDON === '1') return native;
  const require = createRequire(import.meta.url);
  // Next to the bundle (dist/*.js), one up (dist/lib/node/), two up (dist/lib/chunks/), or in
  // dist/ when run from src/node/io/.
  for (const at of ['./native.node', '../native.node', '../../native.node', '../../../dist/native.node']) {
    try {
      native = require(at) as Native;
      break;
    } catch {
      // Not there, or built for another Node: try the next place, then fall back.
    }
  }
  return native;
}
