// The optional native addon (src/node/addon/native.c, built into dist/native.node by
// build.mjs when node-gyp and a compiler are there): kernel zeroing offloads and system(3).
// Everything that uses it has a pure-JS fallback, so a package installed without a compiler
// (or LOGWRITES_NO_ADDON=1) works the same, only slower.

import { createRequire } from 'node:module';

export interface Native {
  /** 0, or minus the errno. `op`: 0 BLKDISCARD, 1 BLKZEROOUT, 2 punch a hole (native.c). */
  zero(fd: number, op: number, offset: number, length: number): number;
  /** Write the file's dirty pages out, without a device cache flush (sync_file_range): 0, or minus the errno. */
  writeback(fd: number): number;
  /** system(3)'s wait status, or -1. */
  system(command: string): number;
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
