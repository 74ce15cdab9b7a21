// Ctrl-C and kill during `logwrites replay`: the replay stops at an entry boundary soon after
// the signal, syncs, says where it stopped, and the target holds exactly the log up to there.
//
// The log is generated so that the expected target is known without replaying: entry i writes
// one sector, sector i % SECTORS, whose first four bytes are i.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, encodeSuper, Flag } from '../../src/format.ts';
import { ROOT, scratchDir, zeroImage } from '../support/fixtures.ts';
import { builtBins } from './hostile.ts';

const S = 512;
const ENTRIES = 300_000;
const SECTORS = 8192;
const dir = scratchDir('signals');
const log = path.join(dir, 'big.log');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const fd = fs.openSync(log, 'w');
  try {
    fs.writeSync(fd, encodeSuper({ nrEntries: ENTRIES, sectorSize: S }));
    const batch = 4096;
    for (let first = 0; first < ENTRIES; first += batch) {
      const buf = Buffer.alloc(Math.min(batch, ENTRIES - first) * 2 * S);
      for (let i = first, at = 0; i < first + batch && i < ENTRIES; i++, at += 2 * S) {
        buf.set(encodeHeader({ sector: i % SECTORS, nrSectors: 1, flags: i % 100 === 99 ? Flag.FUA : 0 }, S), at);
        buf.writeUInt32LE(i, at + S);
      }
      fs.writeSync(fd, buf);
    }
  } finally {
    fs.closeSync(fd);
  }
});

/** The target after replaying entries 0..last: each sector holds the last entry that wrote it. */
function expectedTarget(last: number): Buffer {
  const dev = Buffer.alloc(SECTORS * S);
  for (let s = 0; s < SECTORS && s <= last; s++)
    dev.writeUInt32LE(s + Math.floor((last - s) / SECTORS) * SECTORS, s * S);
  return dev;
}

interface Interrupted {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the signal to the exit. */
  reaction: number;
}

/** Start a replay, wait until it writes to the target, send `sig`, and wait for the exit. */
function interrupt(target: string, sig: NodeJS.Signals, extra: string[]): Promise<Interrupted> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/logwrites.js'), 'replay', log, target, '--json', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let sentAt = 0;
    const probe = Buffer.alloc(4 * S);
    const fd = fs.openSync(target, 'r');
    const poll = setInterval(() => {
      fs.readSync(fd, probe, 0, probe.length, 0);
      if (probe.some((b) => b !== 0)) {
        clearInterval(poll);
        sentAt = performance.now();
        child.kill(sig);
      }
    }, 5);
    const giveUp = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearInterval(poll);
      clearTimeout(giveUp);
      fs.closeSync(fd);
      resolve({ status, signal, stdout, stderr, reaction: sentAt ? performance.now() - sentAt : NaN });
    });
  });
}

describe.skipIf(builtBins())('replay and signals', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} stops a sequential replay at an entry boundary, says where, and the target holds exactly that prefix`, async () => {
      const target = zeroImage(dir, `seq-${sig}.img`, SECTORS * S);
      const r = await interrupt(target, sig, ['--plan', 'sequential']);
      expect(r.signal).toBeNull();
      expect(r.stderr).toBe('');
      expect(r.status, 'shells report 128 + the signal number').toBe(sig === 'SIGINT' ? 130 : 143);
      const s = JSON.parse(r.stdout);
      expect(s.interrupted, 'the summary says the replay was interrupted').toBe(true);
      expect(s.signal).toBe(sig);
      expect(s.lastEntry).toBeLessThan(ENTRIES - 1);
      expect(s.entries).toBe(s.lastEntry + 1);
      expect(r.reaction, 'milliseconds from the signal to the exit').toBeLessThan(2000);
      expect(fs.readFileSync(target).equals(expectedTarget(s.lastEntry))).toBe(true);
    });
  }
});
