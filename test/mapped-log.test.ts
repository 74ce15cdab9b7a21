// Logs read in place through the addon's mapping (src/node/io/mapped-log.ts, addon mapped.c):
// a walk sees what a walk by reads sees, close unmaps, and a log cut short under the mapping
// reads as truncated (or as cut short) instead of killing the process with SIGBUS, and a walk
// lets go of the pages behind it unless a writer will write from them (keepMappedFor, inPlace).
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogClosed, LogFormatError } from '../src/errors.ts';
import { describePath } from '../src/node/io/device-info.ts';
import { inPlace, keepMappedFor, openSource } from '../src/node/io/file.ts';
import { DROP_BEHIND } from '../src/node/io/mapped-log.ts';
import { loadNative } from '../src/node/io/native.ts';
import { Advance, LogReader, type ByteSource } from '../src/reader.ts';
import { KERNEL_FIXTURES, ROOT, kernelLog, scratchDir } from './support/fixtures.ts';
import { generateLog } from './support/generate.ts';

const dir = scratchDir('mapped');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const haveAddon = !!loadNative();

/** Every entry's fields and a digest of its payload, walked with a reused buffer (as replays walk). */
async function walk(source: ByteSource): Promise<{ entries: string[]; payloads: string }> {
  const reader = await LogReader.open(source);
  const c = reader.cursor({ payloads: true, reuseBuffer: true, chunkSize: 1 << 16 });
  const entries: string[] = [];
  const h = crypto.createHash('sha256');
  for (;;) {
    const step = c.advance();
    if (step === Advance.End) break;
    if (step === Advance.Read) {
      await c.fill();
      continue;
    }
    entries.push(`${c.index} ${c.offset} ${c.sector} ${c.nrSectors} ${c.flags} ${c.mark ?? ''}`);
    const p = c.payload();
    if (p) h.update(p);
    else for await (const piece of reader.payload(c)) h.update(piece);
  }
  return { entries, payloads: h.digest('hex') };
}

/** Bytes of `file` this process's mappings of it hold in memory (/proc/self/smaps' Rss). */
function residentOf(file: string): number {
  let kib = 0;
  let inFile = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(` ${file}`);
    else if (inFile && line.startsWith('Rss:')) kib += Number(line.split(/\s+/)[1]);
  }
  return kib * 1024;
}

/** The same source read by read(2): its view taken away. */
function byReads(source: ByteSource): ByteSource {
  const { view: _, ...plain } = source;
  return plain;
}

describe.skipIf(!haveAddon)('a log read in place', () => {
  it.each(KERNEL_FIXTURES)('%s: walks the entries and payloads a walk by reads finds', async (name) => {
    const source = openSource(kernelLog(name));
    try {
      expect(source.view).toBeDefined();
      expect(await walk(source)).toEqual(await walk(byReads(source)));
    } finally {
      source.close();
    }
  });

  it('walks large strides (header-only reads by read(2)) alike', async () => {
    const log = path.join(dir, 'strides.log');
    generateLog(log, { sectorSize: 512, writes: 300, writeBytes: 96 << 10, sectorOf: (i) => (i % 37) * 192 });
    const source = openSource(log);
    try {
      expect(await walk(source)).toEqual(await walk(byReads(source)));
    } finally {
      source.close();
    }
  });

  it("views are the file's bytes; close unmaps the log, and the views read as empty", () => {
    const log = path.join(dir, 'bytes.log');
    const bytes = crypto.randomBytes(3 * 65536 + 100);
    fs.writeFileSync(log, bytes);
    const source = openSource(log);
    // Mapped at the first view, not at open (a find over a stored index needs no mapping).
    expect(fs.readFileSync('/proc/self/maps', 'utf8')).not.toContain(log);
    const v = source.view!(70000, 1000);
    expect(Buffer.from(v).equals(bytes.subarray(70000, 71000))).toBe(true);
    expect(source.view!(bytes.length - 10, 1000).length).toBe(10);
    expect(fs.readFileSync('/proc/self/maps', 'utf8')).toContain(log);
    source.close();
    expect(fs.readFileSync('/proc/self/maps', 'utf8')).not.toContain(log);
    expect(v.length).toBe(0);
    expect(() => source.view!(0, 10)).toThrow(LogClosed);
  });

  /** The most of `log` a walk over it had mapped (sampled every 4096 entries), after `before` on its source. */
  async function peakOfWalk(log: string, before: (s: ByteSource) => void = () => {}): Promise<number> {
    const source = openSource(log);
    try {
      before(source);
      const reader = await LogReader.open(source);
      const c = reader.cursor({ reuseBuffer: true });
      let entries = 0;
      let peak = 0;
      for (let step = c.advance(); step !== Advance.End; step = c.advance()) {
        if (step === Advance.Read) await c.fill();
        else if (++entries % 4096 === 0) peak = Math.max(peak, residentOf(log));
      }
      expect(entries).toBe(reader.nrEntries);
      return peak;
    } finally {
      source.close();
    }
  }

  it('a walk lets go of the pages behind it, unless told to keep them for a writer', async () => {
    // Entries of 4.5 KiB, so that the walk's header reads map every page of the log.
    const log = path.join(dir, 'long.log');
    const logBytes = 3 * DROP_BEHIND;
    generateLog(log, { sectorSize: 512, writes: Math.ceil(logBytes / 4608), writeBytes: 4096, sectorOf: (i) => i * 8 });
    // What a walk maps between two drops, a chunk and the kernel's fault-around beyond it.
    const peak = await peakOfWalk(log);
    expect(peak).toBeGreaterThan(DROP_BEHIND / 2);
    expect(peak).toBeLessThan(DROP_BEHIND + (4 << 20));
    // Kept for a writer: everything the walk passed, which the writer's bytes are.
    let bytes: Uint8Array | undefined;
    const kept = await peakOfWalk(log, (s) => {
      // As for a replay onto a block device (the target's description; only its kind counts).
      keepMappedFor(s, { ...describePath(log)!, isBlockDevice: true });
      bytes = inPlace(s);
      expect(bytes!.length).toBe(fs.statSync(log).size);
    });
    expect(kept).toBeGreaterThan(logBytes - DROP_BEHIND / 2);
    expect(bytes!.length, 'unmapped with its source').toBe(0);
  });

  it('a log cut short after it was opened reads as truncated, as by reads', async () => {
    const problem = async (read: (s: ByteSource) => ByteSource) => {
      const log = path.join(dir, 'cut.log');
      generateLog(log, { sectorSize: 512, writes: 400, writeBytes: 4096, sectorOf: (i) => i * 8 });
      const source = openSource(log);
      try {
        fs.truncateSync(log, 200 * 4608 + 700);
        return await walk(read(source)).then(
          () => 'no error',
          (e: unknown) => (e instanceof LogFormatError ? e.message : String(e)),
        );
      } finally {
        source.close();
      }
    };
    const inPlace = await problem((s) => s);
    expect(inPlace).toMatch(/truncated/);
    expect(inPlace).toBe(await problem(byReads));
  });
});

describe.skipIf(!haveAddon)('the SIGBUS guard', () => {
  const addon = path.join(ROOT, 'dist/native.node');
  /** Run `body` in a Node of its own with `n` the addon, `file` a scratch file: its stdout and how it ended. */
  const child = (body: string) => {
    const file = path.join(dir, `sigbus-${crypto.randomUUID()}`);
    const script = `const n = require(${JSON.stringify(addon)}); const fs = require('fs'); const file = ${JSON.stringify(file)};\n${body}`;
    return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  };
  const haveBuilt = fs.existsSync(addon);

  it.skipIf(!haveBuilt)(
    'a page past the end of a file cut short under the mapping reads as zeros, and the mapping says it was cut',
    () => {
      const r = child(`
      fs.writeFileSync(file, Buffer.alloc(4 * 65536, 7));
      const ab = n.mapLog(fs.openSync(file, 'r'), 4 * 65536);
      const v = new Uint8Array(ab);
      const before = v[3 * 65536];
      fs.truncateSync(file, 65536);
      const after = v[3 * 65536];
      console.log(JSON.stringify({ before, after, kept: v[10], cut: n.logCut(ab) }));`);
      expect(r.signal).toBeNull();
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ before: 7, after: 0, kept: 7, cut: true });
    },
  );

  it.skipIf(!haveBuilt)("a SIGBUS that is not a mapping's still ends the process", () => {
    const r = child(`
      fs.writeFileSync(file, Buffer.alloc(65536, 7));
      n.mapLog(fs.openSync(file, 'r'), 65536);
      process.kill(process.pid, 'SIGBUS');
      setTimeout(() => console.log('still here'), 200);`);
    expect(r.signal).toBe('SIGBUS');
    expect(r.stdout).toBe('');
  });

  if (!haveBuilt) it.skip('skipped: no dist/native.node (npm install builds it)', () => {});
});

if (!haveAddon)
  it.skip('skipped: logs are read in place only with the native addon, which is not built here', () => {});
