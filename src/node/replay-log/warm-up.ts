// A new replay-log server's first calls ran cold JIT code: generic/482's loop on btrfs-512 took
// 760 ms on a fresh server and 330-400 ms on a warm one (the C tool: 390 ms). So a server first
// runs the calls xfstests makes (find a mark, the next FUA, -vv replays to a limit, a replay to
// a mark) on a log it makes in memory, onto a device in memory (memfd: nothing on disk), with
// their output dropped. The caller runs it with LOGWRITES_CACHE=off, so no index is stored.

import * as fs from 'node:fs';
import { encodeHeader, encodeSuper, Flag } from '../../format.ts';
import type { Native } from '../io/native.ts';
import { replayLogMain, type ReplayLogConsole } from './replay-log.ts';

const S = 512;
const DEVICE_SECTORS = 8192;
const ENTRIES = 2000;

/** A log like a small file system's: a discard of the device, a mark, writes with FLUSH and FUA among them, discards. */
function warmUpLog(): Uint8Array {
  const parts: Uint8Array[] = [];
  const entry = (sector: number, nrSectors: number, flags: number, mark?: string) => {
    parts.push(encodeHeader({ sector, nrSectors, flags, ...(mark ? { mark } : {}) }, S));
    if (!(flags & (Flag.DISCARD | Flag.MARK))) parts.push(new Uint8Array(nrSectors * S).fill(sector & 0xff));
  };
  entry(0, DEVICE_SECTORS, Flag.DISCARD);
  entry(0, 0, Flag.MARK, 'mkfs');
  for (let i = 0; i < ENTRIES - 3; i++) {
    const flags = i % 7 === 0 ? Flag.FUA : i % 11 === 0 ? Flag.FLUSH : i % 97 === 0 ? Flag.DISCARD : 0;
    entry((i * 37) % (DEVICE_SECTORS - 8), flags === Flag.FLUSH ? 0 : 1 + (i % 8), flags | Flag.METADATA);
  }
  entry(0, 0, Flag.MARK, 'end');
  return new Uint8Array(Buffer.concat([encodeSuper({ nrEntries: ENTRIES, sectorSize: S }), ...parts]));
}

/** Run the warm-up calls; false (and nothing run) when the memory files cannot be made. */
export async function warmUp(native: Native): Promise<boolean> {
  const log = native.memfd('logwrites-warm-up-log');
  const dev = native.memfd('logwrites-warm-up-device');
  try {
    if (log < 0 || dev < 0) return false;
    fs.writeSync(log, warmUpLog());
    fs.ftruncateSync(dev, DEVICE_SECTORS * S);
    const L = `/proc/self/fd/${log}`;
    const D = `/proc/self/fd/${dev}`;
    const quiet: ReplayLogConsole = { out: { write() {}, flush() {} }, err() {}, prog: 'replay-log' };
    for (let round = 0; round < 20; round++) {
      const limit = String(100 + round * 90);
      await replayLogMain(['--find', '--log', L, '--end-mark', 'mkfs'], quiet);
      await replayLogMain(['--find', '--log', L, '--next-fua', '--start-entry', limit], quiet);
      await replayLogMain(['-vv', '--log', L, '--replay', D, '--limit', limit], quiet);
    }
    await replayLogMain(['--log', L, '--replay', D, '--end-mark', 'end'], quiet);
    return true;
  } finally {
    for (const fd of [log, dev]) if (fd >= 0) fs.closeSync(fd);
  }
}
