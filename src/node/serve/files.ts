// serve's data device and log: judged before anything is opened (nothing is lost), then
// opened without truncating and held against other writers while the server runs.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogReader } from '../../reader.ts';
import { recover, recoverHint } from '../../recover.ts';
import { describeFd, majorMinor, type DeviceInfo } from '../io/device-info.ts';
import { openSource } from '../io/file.ts';
import { hold } from '../guard/holds.ts';
import { guardWrite } from '../guard/write-guard.ts';
import { ServeError, WriteRefused } from '../../errors.ts';

/** The files a server is started on, and what it may do to them. */
export interface ServedFiles {
  readonly dev: string;
  readonly log: string;
  /** Continue an existing log after its last entry instead of starting afresh. */
  readonly append?: boolean;
  /** Start over an existing log, and write where write-guard.ts would refuse. */
  readonly force?: boolean;
}

/**
 * The data device's size, judged before anything is opened: an existing device keeps its own
 * (and --size must agree), a missing one is created at --size; whole sectors either way.
 */
export function dataSize(dev: string, info: DeviceInfo | undefined, size: number | undefined, S: number): number {
  if (!info && size === undefined) throw new ServeError(`${dev} does not exist (give --size to create it)`);
  if (info && size !== undefined && size !== info.size)
    throw new ServeError(`${dev} is ${info.size} bytes but --size says ${size}`);
  const bytes = info?.size ?? size!;
  if (bytes === 0 || bytes % S)
    throw new ServeError(`${dev} is ${bytes} bytes, not a positive multiple of the ${S}-byte sectorsize`);
  return bytes;
}

/** What an existing log holds that starting over would destroy, or undefined when it holds nothing. */
async function existingContent(logPath: string, info: DeviceInfo | undefined): Promise<string | undefined> {
  if (!info || (!info.isBlockDevice && info.size === 0)) return undefined;
  const src = openSource(logPath);
  try {
    const head = await src.read(0, Math.min(4096, src.size));
    try {
      const reader = await LogReader.open(src);
      return `it holds a log of ${reader.nrEntries} entries`;
    } catch {
      // Not a log: judged by its bytes below.
    }
    if (info.isBlockDevice && head.every((b) => b === 0)) return undefined;
    return info.isBlockDevice ? 'its first sectors are not zeros' : `it is not empty (${info.size} bytes)`;
  } finally {
    src.close();
  }
}

/**
 * Where an existing log goes on: after its last valid entry, counted by the super or not, as
 * `recover` finds it. A counted entry that is damaged is refused: appending would write over it.
 */
export async function resumePoint(logPath: string): Promise<{ sectorSize: number; entries: number; end: number }> {
  const src = openSource(logPath);
  try {
    const r = await recover(await LogReader.open(src));
    if (r.validEntries < r.nrEntries)
      throw new ServeError(
        `cannot append to ${logPath}: ${r.stoppedBecause}, and appending would write over the entries counted after it (see: ${recoverHint(logPath)})`,
      );
    return { sectorSize: r.sectorSize, entries: r.validEntries, end: r.end };
  } finally {
    src.close();
  }
}

/** Refuse, before anything is opened, what would destroy data: see write-guard.ts, and an existing log without --append or --force. */
export async function judge(opts: ServedFiles, dev?: DeviceInfo, log?: DeviceInfo): Promise<void> {
  const force = !!opts.force;
  if (!force && !dev && !log && path.resolve(opts.dev) === path.resolve(opts.log))
    throw new WriteRefused('serve', `${opts.dev} would be both the data device and the log`);
  guardWrite('serve', { path: opts.dev, keep: log ? [{ name: 'the log', info: log }] : [] }, force);
  guardWrite('serve', { path: opts.log, keep: dev ? [{ name: 'the data device', info: dev }] : [] }, force);
  if (opts.append || force) return;
  const content = await existingContent(opts.log, log);
  if (content)
    throw new ServeError(`refusing to start over ${opts.log}: ${content} (--append continues it, --force starts over)`);
}

/** Open an existing file for writing as it is, or create a missing one (never truncating either). */
function openKeeping(p: string, exists: boolean): Promise<fs.promises.FileHandle> {
  return fs.promises.open(p, exists ? 'r+' : 'wx+');
}

export type HeldFiles = Awaited<ReturnType<typeof openHeld>>;

/** Both files opened (a missing one created, nothing truncated yet) and held against other writers. */
export async function openHeld(opts: ServedFiles, devInfo?: DeviceInfo, logInfo?: DeviceInfo) {
  const opened: fs.promises.FileHandle[] = [];
  try {
    const data = await openKeeping(opts.dev, !!devInfo);
    opened.push(data);
    const log = await openKeeping(opts.log, !!logInfo);
    opened.push(log);
    const item = (p: string, fh: fs.promises.FileHandle, role: string) => {
      const info = describeFd(fh.fd);
      return {
        carrier: {
          kind: info.isBlockDevice ? ('block' as const) : ('file' as const),
          key: info.isBlockDevice ? majorMinor(info.rdev) : `${info.dev}:${info.ino}`,
        },
        path: p,
        role,
      };
    };
    const holding = hold([item(opts.dev, data, 'data device'), item(opts.log, log, 'log')], !!opts.force);
    return { data, log, holding };
  } catch (e) {
    await Promise.all(opened.map((fh) => fh.close()));
    // What we created is empty: take it away again.
    if (opened.length && !devInfo) fs.rmSync(opts.dev, { force: true });
    if (opened.length > 1 && !logInfo) fs.rmSync(opts.log, { force: true });
    throw e;
  }
}
