// Replay (src/replay/): the entry-by-entry loop and the last-write plan both leave exactly the
// device the kernel left (the manifests' sha256), digest's fingerprints are those of that
// device, and a target too small or a log cut short stop them with the entry named.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Flag } from '../src/format.ts';
import { jsKernels } from '../src/kernels/load.ts';
import { LogReader, memorySource } from '../src/reader.ts';
import { replay, type ReplayTarget } from '../src/replay/loop.ts';
import { replayLastWrites } from '../src/replay/last-write.ts';
import { contentSource, ZEROED } from '../src/replay/sector-map.ts';
import { scanRange } from '../src/range.ts';
import { digestPoints, type DigestPoint } from '../src/commands/digest.ts';
import { hex64 } from '../src/units.ts';
import { LogFormatError, PastTarget, ReplayError } from '../src/errors.ts';
import { KERNEL_FIXTURES, kernelLog, manifest, scratchDir } from './support/fixtures.ts';
import { oracleReplay } from './support/oracle.ts';
import { SAMPLE_DEVICE, sampleLog } from './support/sample-logs.ts';

/** A device in memory; `size` fixes it, as a block device is. */
function memoryDevice(bytes: number, fixed = true): ReplayTarget & { image: Uint8Array } {
  const image = new Uint8Array(bytes);
  return {
    image,
    ...(fixed ? { size: bytes } : {}),
    write(offset, parts) {
      for (const p of parts) {
        image.set(p, offset);
        offset += p.length;
      }
    },
    zero: (offset, length) => void image.fill(0, offset, offset + length),
    sync() {},
  };
}

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

describe.each(KERNEL_FIXTURES)('%s', (name) => {
  const m = manifest(name);
  const bytes = new Uint8Array(fs.readFileSync(kernelLog(name)));

  it('the loop and the last-write plan each leave the device the kernel left', async () => {
    const reader = await LogReader.open(memorySource(bytes));
    const seq = memoryDevice(m.device_size);
    const r = await replay(reader, seq);
    expect([r.entries, r.stopped, r.last?.index]).toEqual([m.nr_entries, false, m.nr_entries - 1]);
    expect(sha256(seq.image)).toBe(m.final_device_sha256);
    const range = await scanRange(reader, {}, true);
    const lw = memoryDevice(m.device_size);
    const done = await replayLastWrites(reader, lw, range.map!);
    expect(done.complete).toBe(true);
    expect(sha256(lw.image)).toBe(m.final_device_sha256);
    // The plan writes each sector once: never more than the loop.
    expect(done.bytesWritten).toBeLessThanOrEqual(r.bytesWritten);
  });

  it('digest fingerprints the device at every mark as it stands there', async () => {
    const reader = await LogReader.open(memorySource(bytes));
    const points: DigestPoint[] = [];
    await digestPoints(reader, { flags: Flag.MARK }, jsKernels, (p) => points.push(p));
    expect(points.map((p) => p.mark)).toEqual(m.marks_in_log);
    const S = m.sectorsize;
    for (const p of [points[0]!, points.at(-1)!]) {
      const dev = oracleReplay(kernelLog(name), m.device_size, p.entry);
      const fp = jsKernels.fingerprint(S);
      for (let s = 0; s < m.device_size / S; s++) fp.write(s, dev.subarray(s * S, (s + 1) * S));
      expect(p.fingerprint, `at ${p.mark}`).toBe(hex64(fp.value()));
    }
  });
});

describe('small logs', () => {
  const S = 512;
  const log = sampleLog(S);

  it('refuses an entry past the end of a fixed target, leaving what came before it applied', async () => {
    const reader = await LogReader.open(memorySource(log.bytes));
    // Entry 8 writes sectors 40..47: a 40-sector device holds everything before it.
    const dev = memoryDevice(40 * S);
    const err = await replay(reader, dev).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplayError);
    const cause = (err as ReplayError).cause;
    expect(cause).toBeInstanceOf(PastTarget);
    expect(cause.message).toBe(
      `entry 8 at byte ${log.offsets[8]}: reaches target byte ${48 * S}, past the end of the ${40 * S}-byte target`,
    );
    expect((err as ReplayError).progress).toBe('entry 7 was the last one applied');
    expect(sha256(dev.image)).toBe(sha256(oracleImage(log.bytes, 40 * S, 7)));
  });

  it('stops where the visitor says, and applies a range of sectors only', async () => {
    const reader = await LogReader.open(memorySource(log.bytes));
    const dev = memoryDevice(SAMPLE_DEVICE);
    const r = await replay(reader, dev, {
      sectors: { start: 16, end: 19 },
      visit: (e) => (e.index === 5 ? 'stop' : 'next'),
    });
    expect([r.entries, r.stopped, r.bytesWritten]).toEqual([6, true, 4 * S]);
    expect(dev.image.subarray(0, 16 * S).every((b) => b === 0)).toBe(true);
    expect(new DataView(dev.image.buffer).getUint32(17 * S, true)).toBe(17);
  });

  it('names a payload cut short as the same truncated payload in both plans', async () => {
    const cut = log.offsets[8]! + S + 2 * S;
    const reader = await LogReader.open(memorySource(log.bytes.subarray(0, cut)));
    const err = await replay(reader, memoryDevice(SAMPLE_DEVICE)).catch((e: unknown) => e);
    expect(((err as ReplayError).cause as LogFormatError).kind).toBe('truncated-payload');
    expect((err as ReplayError).message).toMatch(
      new RegExp(
        `^entry 8 at byte ${log.offsets[8]}: truncated payload: ${8 * S} bytes need the log to reach byte ${log.offsets[8]! + 9 * S}, it ends at ${cut} \\(entry 7 was the last one applied\\)$`,
      ),
    );
    const range = await scanRange(reader, { to: { entry: 8 } }, true);
    const lw = await replayLastWrites(reader, memoryDevice(SAMPLE_DEVICE), range.map!).catch((e: unknown) => e);
    expect((lw as LogFormatError).kind).toBe('truncated-payload');
    expect((lw as LogFormatError).message).toBe(
      `log at byte ${cut}: truncated payload: the data of device sector 40 needs the log to reach byte ${log.offsets[8]! + 9 * S}, it ends at ${cut}`,
    );
  });

  it('records a discard as zeros and a write as its payload offset', () => {
    expect(contentSource({ flags: Flag.DISCARD | Flag.FUA, payloadOffset: 4096 })).toBe(ZEROED);
    expect(contentSource({ flags: Flag.FUA, payloadOffset: 4096 })).toBe(4096);
    expect(contentSource({ discard: true, payloadOffset: 4096 })).toBe(ZEROED);
  });
});

/** The device after entries 0..end of a small log, replayed naively. */
function oracleImage(bytes: Uint8Array, size: number, end: number): Uint8Array {
  const dir = scratchDir('replay');
  const log = path.join(dir, 'log');
  fs.writeFileSync(log, bytes);
  try {
    return oracleReplay(log, size, end);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
