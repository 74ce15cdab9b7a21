// Loop block devices for benchmarks: over sparse files in a private folder, with unique
// names, detached (and their files removed) by `detach`, also when a benchmark fails.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface LoopDevice {
  readonly dev: string;
  readonly backing: string;
  detach(): void;
}

/** A loop device of `bytes` over a new sparse file in `dir`, or why there is none. */
export function attachLoop(dir: string, name: string, bytes: number): LoopDevice | { skip: string } {
  const backing = path.join(dir, `${name}-${process.pid}.loop`);
  fs.writeFileSync(backing, '');
  fs.truncateSync(backing, bytes);
  return attachFile(backing);
}

/** A loop device over an existing file (removed with the device by `detach`), or why there is none. */
export function attachFile(backing: string): LoopDevice | { skip: string } {
  try {
    const dev = execFileSync('losetup', ['--find', '--show', backing], { encoding: 'utf8' }).trim();
    return {
      dev,
      backing,
      detach() {
        spawnSync('losetup', ['-d', dev]);
        fs.rmSync(backing, { force: true });
      },
    };
  } catch (e) {
    fs.rmSync(backing, { force: true });
    return { skip: `no loop device (${(e as Error).message.split('\n')[0]})` };
  }
}

/** Every byte of a loop device reads as zero again (its backing file becomes one hole). */
export function resetLoop(loop: LoopDevice): void {
  const r = spawnSync('blkdiscard', ['-f', loop.dev]);
  if (r.status !== 0) throw new Error(`blkdiscard ${loop.dev}: ${r.stderr}`);
  spawnSync('sync', []);
}

/** What a block device did: write requests completed and milliseconds it was busy (/sys/block/X/stat). */
export interface DeviceWork {
  writes: number;
  busyMs: number;
}

export function deviceWork(dev: string): DeviceWork {
  // Fields: reads, read merges, read sectors, read ms, writes, write merges, write sectors,
  // write ms, in flight, io_ticks (busy ms), ...
  const f = fs
    .readFileSync(`/sys/block/${path.basename(dev)}/stat`, 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  return { writes: f[4]!, busyMs: f[9]! };
}

/** What the device did during `run`. */
export function workOf<T>(dev: string, run: () => T): { value: T; work: DeviceWork } {
  const before = deviceWork(dev);
  const value = run();
  const after = deviceWork(dev);
  return { value, work: { writes: after.writes - before.writes, busyMs: after.busyMs - before.busyMs } };
}
