// openTarget as the library hands it out: a target too small for the log is refused, whichever
// plan writes to it, and grows only when asked to (as upstream replay-log grows a file).
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader } from '../src/reader.ts';
import { replay } from '../src/replay/loop.ts';
import { replayLastWrites } from '../src/replay/last-write.ts';
import { scanRange } from '../src/range.ts';
import { openSource } from '../src/node/io/file.ts';
import { openTarget } from '../src/node/io/target.ts';
import { kernelLog, manifest, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { PastTarget, ReplayError, TargetTooSmall } from '../src/errors.ts';

const NAME = 'ext4-512';
const m = manifest(NAME);
const dir = scratchDir('target');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function withReader<T>(fn: (reader: LogReader) => Promise<T>): Promise<T> {
  const source = openSource(kernelLog(NAME));
  try {
    return await fn(await LogReader.open(source));
  } finally {
    source.close();
  }
}

describe('openTarget on a file smaller than the device the log wrote', () => {
  const small = m.device_size / 2;

  it('replay refuses the first entry past the end, names it, and leaves the size alone', async () => {
    const image = zeroImage(dir, 'replay.img', small);
    const target = openTarget(image);
    expect(target.size).toBe(small);
    const err = await withReader((reader) => replay(reader, target)).catch((e: unknown) => e);
    target.close();
    expect(err).toBeInstanceOf(ReplayError);
    expect((err as ReplayError).cause).toBeInstanceOf(PastTarget);
    expect((err as ReplayError).message).toMatch(
      /^entry \d+ at byte \d+: reaches target byte \d+, past the end of the 33554432-byte target \(entry \d+ was the last one applied\)$/,
    );
    expect(fs.statSync(image).size).toBe(small);
  });

  it('the target itself refuses writes from any plan with a typed error', async () => {
    const image = zeroImage(dir, 'last-write.img', small);
    const target = openTarget(image);
    const err = await withReader(async (reader) =>
      replayLastWrites(reader, target, (await scanRange(reader, {}, true)).map!),
    ).catch((e: unknown) => e);
    target.close();
    expect(err).toBeInstanceOf(TargetTooSmall);
    expect((err as TargetTooSmall).code).toBe('ETOOSMALL');
    expect((err as TargetTooSmall).size).toBe(small);
    expect(fs.statSync(image).size).toBe(small);
  });

  it('grows the file when opened with grow, and the replay then equals the kernel device', async () => {
    const image = zeroImage(dir, 'grow.img', small);
    const target = openTarget(image, { grow: true });
    expect(target.size).toBeUndefined();
    await withReader((reader) => replay(reader, target));
    target.close();
    // The log's last write ends before the device does; what lies past it reads as zeros.
    fs.truncateSync(image, m.device_size);
    expect(sha256File(image)).toBe(m.final_device_sha256);
  });
});
