// Shared by the reliability suites: a seeded random source, logs assembled from pieces
// without copying, a replay target that refuses to grow, and the CLIs run as subprocesses
// with their peak memory measured.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ByteSource } from '../../src/reader.ts';
import type { ReplayTarget } from '../../src/replay/loop.ts';
import { ROOT, scratchDir } from '../support/fixtures.ts';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
      return out;
    },
  };
}
export type Rng = ReturnType<typeof rng>;

/** A log made of `parts` back to back, read without concatenating them. */
export function concatSource(
  parts: readonly Uint8Array[],
): ByteSource & { readonly largestRead: number; bytes(): Uint8Array } {
  const starts: number[] = [];
  let size = 0;
  for (const p of parts) {
    starts.push(size);
    size += p.length;
  }
  let largestRead = 0;
  return {
    size,
    get largestRead() {
      return largestRead;
    },
    read(offset, length) {
      largestRead = Math.max(largestRead, length);
      const end = Math.min(size, offset + length);
      if (end <= offset) return new Uint8Array(0);
      let i = 0;
      while (i + 1 < parts.length && starts[i + 1]! <= offset) i++;
      const first = parts[i]!;
      if (end <= starts[i]! + first.length) return first.subarray(offset - starts[i]!, end - starts[i]!);
      const out = new Uint8Array(end - offset);
      for (let at = offset; at < end; i++) {
        const from = at - starts[i]!;
        const take = Math.min(parts[i]!.length - from, end - at);
        out.set(parts[i]!.subarray(from, from + take), at - offset);
        at += take;
      }
      return out;
    },
    bytes() {
      const out = new Uint8Array(size);
      parts.forEach((p, k) => out.set(p, starts[k]!));
      return out;
    },
  };
}

/** A fixed-size device in memory that records (instead of doing) any write past its end. */
export function fixedTarget(size: number): ReplayTarget & { readonly image: Uint8Array; readonly overruns: number } {
  const image = new Uint8Array(size);
  let overruns = 0;
  const fits = (offset: number, length: number) => {
    if (offset >= 0 && offset + length <= size) return true;
    overruns++;
    return false;
  };
  return {
    image,
    get overruns() {
      return overruns;
    },
    write(offset, parts) {
      let at = offset;
      for (const p of parts) {
        if (fits(at, p.length)) image.set(p, at);
        at += p.length;
      }
    },
    zero(offset, length) {
      if (fits(offset, length)) image.fill(0, offset, offset + length);
    },
    sync() {},
  };
}

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the child in KiB. */
  maxRssKiB: number;
  ms: number;
}

// Loaded into each child with --import: leaves its peak RSS where the parent can read it.
const PROBE = `data:text/javascript,import{writeFileSync}from'node:fs';process.on('exit',()=>{try{writeFileSync(process.env.LOGWRITES_RSS_FILE,String(process.resourceUsage().maxRSS))}catch{}})`;

/**
 * Run `bin/<bin>` with a time limit and a cap on the size of any file it writes (so a replay
 * that runs away from its target fails with EFBIG instead of filling the disk); the child's
 * peak memory comes back with its output.
 */
export function runBin(
  bin: 'logwrites' | 'replay-log',
  args: readonly string[],
  scratch: string,
  timeoutMs = 20_000,
  maxFileBytes = 1 << 30,
): CliRun {
  const rssFile = path.join(scratch, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const t0 = performance.now();
  const r = spawnSync(
    'prlimit',
    [
      `--fsize=${maxFileBytes}`,
      '--',
      process.execPath,
      '--import',
      PROBE,
      path.join(ROOT, 'bin', `${bin}.js`),
      ...args,
    ],
    {
      encoding: 'utf8',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 64 << 20,
      env: { ...process.env, LOGWRITES_RSS_FILE: rssFile, LOGWRITES_DEBUG: '' },
    },
  );
  const ms = performance.now() - t0;
  let maxRssKiB = 0;
  try {
    maxRssKiB = Number(fs.readFileSync(rssFile, 'utf8'));
    fs.rmSync(rssFile);
  } catch {
    // A child killed by the timeout leaves no figure; its signal says what happened.
  }
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', maxRssKiB, ms };
}

/** The built CLIs exist (npm test builds them first); say so plainly when they do not. */
export function builtBins(): string | undefined {
  for (const f of ['dist/cli.cjs', 'dist/replay-log.cjs']) {
    if (!fs.existsSync(path.join(ROOT, f))) return `${f} is missing: run npm run build`;
  }
  return undefined;
}

/**
 * A scratch directory for a test file, and one for the logs and targets of its cases: on tmpfs
 * where there is one, since replays fsync their targets and a disk makes that slow. The returned
 * function removes both.
 */
export function scratchDirs(tag: string): { dir: string; caseDir: string; remove: () => void } {
  const dir = scratchDir(tag);
  const caseDir = fs.existsSync('/dev/shm') ? fs.mkdtempSync(`/dev/shm/logwrites-${tag}-`) : dir;
  return {
    dir,
    caseDir,
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(caseDir, { recursive: true, force: true });
    },
  };
}
