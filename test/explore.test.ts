// Crash-state exploration: the cursor against an independent reconstruction of every state,
// the state counts against the model, a kernel ext4 log through e2fsck, and a planted
// ordering bug that explore finds and a check at each flush does not.
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Cursor,
  Explorer,
  epochStates,
  formatStateId,
  materializeState,
  parseStateId,
  readEpochs,
  seededRandom,
  stateCount,
  stateId,
  syncBytes,
  type Device,
  type Epoch,
  type Strategy,
} from '../src/explore/explorer.ts';
import { Flag } from '../src/format.ts';
import { jsKernels } from '../src/kernels/load.ts';
import { LogReader, memorySource } from '../src/reader.ts';
import { kernelLog, ROOT, scratchDir, sha256File } from './support/fixtures.ts';
import { oracleRead, oracleReplay, type OracleEntry } from './support/oracle.ts';
import { isData, plantedLog, writeLog } from './support/planted.ts';

const dir = scratchDir('explore');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function logwrites(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** The device of a state rebuilt from the independent reader: everything before the epoch, then the state's writes, in log order. */
function oracleState(
  entries: OracleEntry[],
  S: number,
  size: number,
  epochStart: number,
  present: Set<number>,
): Buffer {
  const dev = Buffer.alloc(size);
  for (const e of entries) {
    if (!isData(e) || !(e.index < epochStart || present.has(e.index))) continue;
    if (e.flags & Flag.DISCARD) dev.fill(0, e.sector * S, (e.sector + e.nrSectors) * S);
    else e.payload!.copy(dev, e.sector * S);
  }
  return dev;
}

/** A device in memory. */
function memoryDevice(size: number): Device & { bytes: Uint8Array } {
  const bytes = new Uint8Array(size);
  return {
    bytes,
    read: (offset, length) => bytes.slice(offset, offset + length),
    write: (offset, data) => bytes.set(data, offset),
    zero: (offset, length) => void bytes.fill(0, offset, offset + length),
  };
}

describe('model and cursor, on a random log written by LogWriter', async () => {
  const S = 512;
  const SECTORS = 48;
  const random = seededRandom(7, 0);
  const pick = (n: number) => Math.floor(random() * n);
  const log = await writeLog(S, async (w, io) => {
    for (let epoch = 0; epoch < 12; epoch++) {
      const writes = pick(9);
      for (let i = 0; i < writes; i++) {
        const nr = 1 + pick(4);
        const sector = pick(SECTORS - nr);
        const roll = random();
        if (roll < 0.12) await io({ kind: 'discard', sector, nrSectors: nr });
        else {
          const data = new Uint8Array(nr * S).map(() => pick(3));
          await io({ kind: 'write', sector, data: [data], fua: roll > 0.8 });
        }
        if (random() < 0.1) await w.mark(`m${epoch}.${i}`);
      }
      // Now and then the flush is a REQ_PREFLUSH write (FLUSH with data), sometimes FUA too.
      const roll = random();
      if (roll < 0.25)
        await io({
          kind: 'write',
          sector: pick(SECTORS - 1),
          data: [new Uint8Array(S).fill(9)],
          preflush: true,
          fua: roll < 0.1,
        });
      else await io({ kind: 'flush' });
    }
  });
  const file = path.join(dir, 'random.log');
  fs.writeFileSync(file, log);
  const oracle = oracleRead(file);
  const SIZE = SECTORS * S;
  const reader = await LogReader.open(memorySource(log));
  const epochs: Epoch[] = [];
  for await (const e of readEpochs(reader)) epochs.push(e);

  it('cuts the log into epochs at every FLUSH, a flushing write opening the next epoch', () => {
    const flushes = oracle.entries.filter((e) => e.flags & Flag.FLUSH);
    expect(epochs).toHaveLength(flushes.length + 1);
    expect(epochs.map((e) => e.start)).toEqual([0, ...flushes.map((f) => f.index)]);
    const written = oracle.entries.filter(isData).map((e) => e.index);
    expect(epochs.flatMap((e) => e.writes.map((w) => w.entry))).toEqual(written);
    // A FLUSH with data is the first write of the epoch it opens.
    expect(flushes.filter(isData).length).toBeGreaterThan(1);
    for (const f of flushes.filter(isData))
      expect(epochs.filter((e) => e.start === f.index).at(-1)!.writes[0]!.entry).toBe(f.index);
  });

  it('moves between any two states of an epoch by the bytes that differ, and undoes to the durable prefix', () => {
    const dev = memoryDevice(SIZE);
    const cursor = new Cursor(dev, syncBytes(reader.source), S, epochs[0]!);
    const r = seededRandom(11, 0);
    for (const epoch of epochs) {
      for (let k = 0; k < 40; k++) {
        const included = new Uint8Array(epoch.writes.length).map((_, i) => (epoch.writes[i]!.fua || r() < 0.5 ? 1 : 0));
        cursor.goto(epoch, included);
        const present = new Set(epoch.writes.filter((_, i) => included[i]).map((w) => w.entry));
        expect(sha(dev.bytes), `epoch ${epoch.index} state ${[...included].join('')}`).toBe(
          sha(oracleState(oracle.entries, S, SIZE, epoch.start, present)),
        );
      }
      cursor.reset();
      expect(sha(dev.bytes), `durable prefix of epoch ${epoch.index}`).toBe(
        sha(oracleState(oracle.entries, S, SIZE, epoch.start, new Set())),
      );
    }
  });

  it('counts the states of an epoch as the model does, each once, and materializes each from its id', async () => {
    for (const epoch of epochs) {
      // The model by hand: the empty state, and for each crash point c the subsets of the cached writes before it.
      let want = 1;
      epoch.writes.forEach((_, c) => (want += 2 ** epoch.writes.slice(0, c).filter((w) => !w.fua).length));
      expect(stateCount(epoch)).toBe(want);
      const all = [...epochStates(epoch, [{ kind: 'exhaustive', maxWrites: 24 }], true)];
      expect(all).toHaveLength(want);
      expect(new Set(all.map((s) => s.id)).size).toBe(want);
      for (const s of all.slice(0, 64)) {
        expect(formatStateId(parseStateId(s.id))).toBe(s.id);
        const m = await materializeState(reader, s.id);
        const dev = memoryDevice(SIZE);
        for (const x of m.map.extents()) {
          if (x.source < 0) dev.zero(x.sector * S, x.nrSectors * S);
          else dev.write(x.sector * S, log.subarray(x.source, x.source + x.nrSectors * S));
        }
        const present = new Set(epoch.writes.filter((_, i) => s.included[i]).map((w) => w.entry));
        expect(sha(dev.bytes), s.id).toBe(sha(oracleState(oracle.entries, S, SIZE, epoch.start, present)));
      }
    }
  });

  it('finds FUA writes durable and refuses ids that contradict the model', async () => {
    const fua = epochs
      .flatMap((e) => e.writes.filter((w) => w.fua).map((w) => ({ e, w })))
      .find(({ e, w }) => e.writes.at(-1) !== w)!;
    const last = fua.e.writes.at(-1)!;
    await expect(materializeState(reader, `${last.entry + 1}-${fua.w.entry}`)).rejects.toThrow(/FUA write, durable/);
    const early = epochs[3]!.writes[0]!;
    await expect(materializeState(reader, `${epochs[6]!.end}-${early.entry}`)).rejects.toThrow(
      /earlier writes are durable/,
    );
    expect(() => parseStateId('12-13')).toThrow(/not before the crash point/);
    expect(() => parseStateId('x')).toThrow(/not a state id/);
  });

  it('draws random states reproducibly, distinct, and within the model', () => {
    const big = epochs.reduce((a, b) => (stateCount(b) > stateCount(a) ? b : a));
    const strategy: Strategy[] = [{ kind: 'random', states: 10, seed: 3 }];
    const a = [...epochStates(big, strategy, false)].map((s) => s.id);
    const b = [...epochStates(big, strategy, false)].map((s) => s.id);
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(a.length);
    const valid = new Set([...epochStates(big, [{ kind: 'exhaustive', maxWrites: 24 }], false)].map((s) => s.id));
    for (const id of a) expect(valid.has(id), id).toBe(true);
  });

  it('fingerprints every state as the device it is, and checks equal devices once', async () => {
    const explorer = await Explorer.open(reader, jsKernels, {
      strategies: [{ kind: 'prefix' }, { kind: 'omit-one' }],
      selection: {},
    });
    const contents = new Map<string, bigint>();
    let n = 0;
    for await (const s of explorer.states()) {
      const present = new Set(s.epoch.writes.filter((_, i) => s.included[i]).map((w) => w.entry));
      const dev = oracleState(oracle.entries, S, SIZE, s.epoch.start, present);
      const fp = jsKernels.fingerprint(S);
      fp.write(0, dev);
      expect(s.fingerprint, s.id).toBe(fp.value());
      expect(s.id).toBe(stateId(s.epoch, s.included));
      expect(s.unique).toBe(!contents.has(sha(dev)));
      contents.set(sha(dev), s.fingerprint);
      n++;
    }
    expect(explorer.generated).toBe(n);
    expect(explorer.unique).toBe(contents.size);
    explorer.dispose();
  });
});

const e2fsckFound = spawnSync('e2fsck', ['-V']).status === 0;

describe.skipIf(!e2fsckFound)('kernel ext4 log through e2fsck', () => {
  const log = kernelLog('ext4-512');
  const oracle = oracleRead(log);
  const S = oracle.sectorSize;
  const mkfs = oracle.entries.find((e) => e.mark === 'mkfs')!.index;
  const flushes = oracle.entries.filter((e) => e.flags & Flag.FLUSH).map((e) => e.index);
  // Epochs from the one holding the mark: it starts at the last FLUSH before the mark.
  const firstStart = flushes.filter((f) => f < mkfs).at(-1)!;
  const explored = oracle.entries.filter((e) => e.index >= firstStart && isData(e));
  const lastStart = flushes.at(-1)!;
  const size = 64 << 20;

  it('passes e2fsck -fn at every FLUSH after mkfs, one state per epoch with writes', () => {
    const img = path.join(dir, 'ext4-flush.img');
    const r = logwrites(
      'explore',
      log,
      '--from',
      'mark:mkfs',
      '--strategy',
      'flush',
      '--image',
      img,
      '--exec',
      'e2fsck -fn {image}',
      '--json',
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const epochsWithWrites = new Set(explored.map((e) => flushes.filter((f) => f <= e.index).at(-1))).size;
    expect(report.summary).toMatchObject({ generated: 1 + epochsWithWrites, failed: 0, complete: true });
    expect(report.summary.checked).toBe(report.summary.unique);
  });

  it('passes recovery + e2fsck at every prefix of every epoch, counts states as the model predicts, and leaves the durable prefix', () => {
    // e2fsck -n does not replay the journal, and ext4 checkpoints metadata in place once its
    // commit is durable: a mid-epoch state is consistent after recovery, which the checker does on a copy.
    const check =
      'cp --sparse=always {image} {image}.chk && e2fsck -E journal_only -y {image}.chk >/dev/null 2>&1 && e2fsck -fn {image}.chk; s=$?; rm -f {image}.chk; exit $s';
    const img = path.join(dir, 'ext4-prefix.img');
    const r = logwrites(
      'explore',
      log,
      '--from',
      'mark:mkfs',
      '--strategy',
      'prefix',
      '--image',
      img,
      '--exec',
      check,
      '--jobs',
      '2',
      '--json',
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);

    // The prediction, from the independent reader: the durable prefix, then one state per write in log order.
    const device = new Map<number, string>();
    const key = () => sha(Buffer.from([...device].sort((a, b) => a[0] - b[0]).join(';')));
    const keys: string[] = [];
    for (const e of oracle.entries) {
      if (e.index === firstStart) keys.push(key());
      if (!isData(e)) continue;
      for (let i = 0; i < e.nrSectors; i++) {
        const content = e.flags & Flag.DISCARD ? undefined : e.payload!.subarray(i * S, (i + 1) * S);
        if (!content || content.every((b) => b === 0)) device.delete(e.sector + i);
        else device.set(e.sector + i, sha(content));
      }
      if (e.index >= firstStart) keys.push(key());
    }
    expect(report.summary).toMatchObject({
      generated: 1 + explored.length,
      unique: new Set(keys).size,
      failed: 0,
      complete: true,
    });
    expect(report.summary.checked).toBe(report.summary.unique);
    // Undone: the working image holds the durable prefix of the last epoch explored, byte for byte.
    expect(sha256File(img)).toBe(sha(oracleReplay(log, size, lastStart - 1)));
    expect(fs.existsSync(`${img}.job1`)).toBe(false);
  });
});

describe('a planted bug: a commit record in the same epoch as the data it commits', async () => {
  const { file, checker, S, oracle, dataEntry, commitEntry, expectedFailures } = await plantedLog(dir);

  it('is missed by a check at every flush, upstream style', () => {
    const img = path.join(dir, 'planted-upstream.img');
    fs.writeFileSync(img, new Uint8Array(128 * S));
    const ours = logwrites(
      'replay',
      file,
      img,
      '--check',
      'flush',
      '--exec',
      `sh ${checker} $LOGWRITES_TARGET`,
      '--json',
    );
    expect(ours.status, ours.stderr).toBe(0);
    expect(JSON.parse(ours.stdout)).toMatchObject({ failures: [] });
    const upstream = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'bin/replay-log.js'),
        '--log',
        file,
        '--replay',
        img,
        '--check',
        'flush',
        '--fsck',
        `sh ${checker} ${img}`,
      ],
      { encoding: 'utf8' },
    );
    expect(upstream.status, upstream.stderr).toBe(0);
  });

  it('is missed by prefixes (they keep log order) and found by omit-one, exactly where it is', () => {
    const img = path.join(dir, 'planted.img');
    const prefix = logwrites(
      'explore',
      file,
      '--image',
      img,
      '--exec',
      `sh ${checker} {image}`,
      '--strategy',
      'prefix',
    );
    expect(prefix.status, prefix.stdout + prefix.stderr).toBe(0);
    const args = ['explore', file, '--image', img, '--exec', `sh ${checker} {image}`, '--strategy', 'omit-one'];
    const r = logwrites(...args, '--json');
    expect(r.status, r.stderr).toBe(2);
    const report = JSON.parse(r.stdout);
    expect(report.failures.map((f: { id: string }) => f.id)).toEqual(expectedFailures);
    expect(report.failures[0]).toMatchObject({
      epoch: expect.any(Number),
      excluded: [dataEntry(3)],
      included: [commitEntry(3)],
      status: 1,
      output: 'commit 3 without its data\n',
    });
    const text = logwrites(...args);
    expect(text.status).toBe(2);
    expect(text.stdout).toContain(`state ${expectedFailures[0]} (epoch`);
    expect(text.stdout).toContain('commit 3 without its data');
  });

  it('materializes a failing state that the checker fails on again', () => {
    const out = path.join(dir, 'planted-state.img');
    const r = logwrites('explore', file, '--materialize', expectedFailures[1]!, out);
    expect(r.status, r.stderr).toBe(0);
    const check = spawnSync('sh', [checker, out], { encoding: 'utf8' });
    expect(check.status).toBe(1);
    expect(check.stdout).toBe('commit 4 without its data\n');
    expect(sha256File(out)).toBe(
      sha(oracleState(oracle.entries, S, fs.statSync(out).size, commitEntry(3) + 1, new Set([commitEntry(4)]))),
    );
  });

  it('finds the same states with parallel checkers, and shards split the unique states exactly', () => {
    const img = path.join(dir, 'planted-jobs.img');
    const args = [file, '--image', img, '--exec', `sh ${checker} {image}`, '--strategy', 'exhaustive', '--json'];
    const one = JSON.parse(logwrites('explore', ...args).stdout);
    const two = JSON.parse(logwrites('explore', ...args, '--jobs', '3').stdout);
    const ids = (r: { failures: { id: string }[] }) => r.failures.map((f) => f.id).sort();
    expect(ids(two)).toEqual(ids(one));
    expect(two.summary).toMatchObject({
      generated: one.summary.generated,
      unique: one.summary.unique,
      checked: one.summary.unique,
    });
    const shards = [1, 2, 3].map((i) => JSON.parse(logwrites('explore', ...args, '--shard', `${i}/3`).stdout));
    expect(shards.reduce((n, s) => n + s.summary.checked, 0)).toBe(one.summary.unique);
    expect(shards.flatMap(ids).sort()).toEqual(ids(one));
    for (const s of shards) expect(s.summary.checked + s.summary.otherShards).toBe(one.summary.unique);
  });

  it('resumes an interrupted run without checking a state twice', async () => {
    const img = path.join(dir, 'planted-resume.img');
    const report = path.join(dir, 'planted-resume.json');
    const slow = `sleep 0.1; sh ${checker} {image}`;
    const explore = ['explore', file, '--image', img, '--exec', slow, '--strategy', 'exhaustive'];
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...explore, '--report', report], {
      stdio: 'ignore',
    });
    const status = new Promise((r) => child.on('close', r));
    // Interrupt once a report shows progress (it is written every few seconds and at the end).
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGINT');
    expect(await status).not.toBe(1);
    const first = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(first.summary.complete).toBe(false);
    expect(first.summary.checked).toBeGreaterThan(0);
    const r = logwrites(...explore, '--resume', report, '--json');
    expect(r.status).toBe(2);
    const done = JSON.parse(r.stdout);
    expect(done.summary).toMatchObject({
      complete: true,
      resumed: first.summary.checked,
      checked: done.summary.unique,
    });
    expect(done.failures.map((f: { id: string }) => f.id).sort()).toEqual([...expectedFailures].sort());
    expect(new Set(JSON.parse(fs.readFileSync(report, 'utf8')).checked).size).toBe(done.summary.unique);
    // Another plan (here another checker) is not this report's to resume.
    const other = logwrites(
      'explore',
      file,
      '--image',
      img,
      '--exec',
      `sh ${checker} {image}`,
      '--strategy',
      'exhaustive',
      '--resume',
      report,
    );
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/^logwrites: .*another log or plan/);
  });

  it('explores only the epochs asked for, and says plainly what is wrong with a request', () => {
    const between = JSON.parse(
      logwrites('explore', file, '--from', 'mark:txn4', '--to', 'mark:txn4', '--strategy', 'omit-one', '--json').stdout,
    );
    const byNumber = JSON.parse(
      logwrites(
        'explore',
        file,
        '--epochs',
        `${between.summary.firstEpoch}..${between.summary.lastEpoch}`,
        '--strategy',
        'omit-one',
        '--json',
      ).stdout,
    );
    expect(byNumber.summary).toMatchObject({
      generated: between.summary.generated,
      firstEpoch: between.summary.firstEpoch,
    });
    expect(logwrites('explore', file, '--max-states', '3', '--json').stdout).toContain('"generated":3,');
    for (const [args, message] of [
      [['--image', 'x.img'], /--image and --exec go together/],
      [['--materialize', '5-9', 'o.img'], /entry 9 is not before the crash point/],
      [['--materialize', '1'], /needs the image to write/],
      [['--strategy', 'bogus'], /unknown strategy 'bogus'/],
      [['--from', 'mark:nope'], /no epoch of the log lies in the selected range/],
    ] as const) {
      const r = logwrites('explore', file, ...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
