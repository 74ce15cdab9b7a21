// Files and devices a running `logwrites serve` holds, so that other commands (and other
// servers) refuse to write them.
//
// Node has no flock(2), and a lock that lives in a file's own bytes would be a write to it. So
// a hold is a small file in a shared registry directory, named by what is held (a file's
// dev:ino, a block device's maj:min: two paths to the same inode are one hold) and holding the
// server's pid and that process's start time. A hold whose process is gone, or whose pid now
// belongs to another process (the start time differs), is ignored and removed: a server killed
// with SIGKILL leaves no lock that would stop anyone, so the registry can never go stale. The
// directory is world-writable and sticky like /tmp, so every user's commands see every hold.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Carrier } from '../io/devices.ts';
import { HeldError } from '../../errors.ts';

/** /run/lock is the FHS place for lock files, shared by all users; a tmpdir where it is missing. */
function registry(): string {
  return fs.existsSync('/run/lock') ? '/run/lock/logwrites' : path.join(os.tmpdir(), 'logwrites-holds');
}

export interface Hold {
  readonly pid: number;
  /** The process's start time (field 22 of /proc/PID/stat), which tells a reused pid apart. */
  readonly started: string;
  /** The path the server was given and what it is to it ('data device', 'log'). */
  readonly path: string;
  readonly role: string;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(h: Hold): boolean {
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = startTime(h.pid);
  return started === undefined || started === h.started;
}

const holdPath = (c: Pick<Carrier, 'kind' | 'key'>) => path.join(registry(), `${c.kind}-${c.key.replace(':', '_')}`);

function readHold(file: string): Hold | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Hold;
  } catch {
    return undefined;
  }
}

/** The live server holding this carrier, if any (a dead holder's entry is removed). */
export function heldBy(c: Pick<Carrier, 'kind' | 'key'>): Hold | undefined {
  const file = holdPath(c);
  const h = readHold(file);
  if (!h) return undefined;
  if (alive(h)) return h;
  fs.rmSync(file, { force: true });
  return undefined;
}

/** Held by us: `release` removes the registry entries (only those still ours). */
export interface Holding {
  release(): void;
}

/**
 * Register this process as holding each of `items` (what `carriers` of a path gives first:
 * the path itself). Created exclusively, so two servers starting at once cannot both win; a
 * live holder makes it throw unless `force`.
 */
export function hold(
  items: readonly { carrier: Pick<Carrier, 'kind' | 'key'>; path: string; role: string }[],
  force: boolean,
): Holding {
  const dir = registry();
  fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
  try {
    fs.chmodSync(dir, 0o1777);
  } catch {
    // Another user made it: it is theirs and already shared.
  }
  // Servers killed with SIGKILL leave entries behind; each new server sweeps them away.
  for (const name of fs.readdirSync(dir)) {
    const h = readHold(path.join(dir, name));
    if (h && !alive(h)) fs.rmSync(path.join(dir, name), { force: true });
  }
  const mine: Hold = { pid: process.pid, started: startTime(process.pid) ?? '', path: '', role: '' };
  const taken: string[] = [];
  const release = () => {
    for (const file of taken) if (readHold(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  try {
    for (const item of items) {
      const file = holdPath(item.carrier);
      const text = JSON.stringify({ ...mine, path: path.resolve(item.path), role: item.role });
      for (;;) {
        try {
          fs.writeFileSync(file, text, { flag: force ? 'w' : 'wx', mode: 0o644 });
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const h = heldBy(item.carrier);
          if (h) throw new HeldError(item.path, h);
        }
      }
      taken.push(file);
    }
  } catch (e) {
    release();
    throw e;
  }
  return { release };
}
