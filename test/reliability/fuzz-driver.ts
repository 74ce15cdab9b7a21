// The fuzzing loop, run in a child process (bundled by fuzz.test.ts) so that a hang or a
// runaway allocation kills a child, not the test runner. For each seed: damage a base log,
// then run every reader of the project on it in-process and judge the outcome:
// an error of the family (LogwritesError: it has a code), or a correct result; nothing else,
// and nothing written outside the target.
//
// argv: <config.json>. Writes the seed it is on to config.progress before each case, one
// JSON line per failure to stdout, and a final {"summary": ...} line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { indexLog } from '../../src/entry-index/build.ts';
import { DeviceState } from '../../src/browser/device-state.ts';
import { logInfo } from '../../src/commands/info.ts';
import { filterEntries as filtered } from '../../src/range.ts';
import { replayCommand } from '../../src/cli/replay.ts';
import { Flag } from '../../src/format.ts';
import { loadNodeKernels } from '../../src/node/kernels.ts';
import { scanRange } from '../../src/range.ts';
import { LogReader, memorySource, type Entry } from '../../src/reader.ts';
import { recover, superWithCount } from '../../src/recover.ts';
import { replay } from '../../src/replay/loop.ts';
import { replayLogMain } from '../../src/node/replay-log/replay-log.ts';
import { concatSource, fixedTarget, rng } from './hostile.ts';
import { loadBase } from './bases.ts';
import { mutate } from './mutate.ts';
import {
  CliError,
  LogFormatError,
  LogwritesError,
  RangeNotFound,
  TargetError,
  WriteRefused,
} from '../../src/errors.ts';

export interface DriverConfig {
  bases: { name: string; path: string }[];
  from: number;
  to: number;
  scratch: string;
  /** Where each case's log and target image go (tmpfs where there is one: fsync costs nothing). */
  caseDir: string;
  progress: string;
}

export interface Failure {
  seed: number;
  base: string;
  steps: string[];
  op: string;
  problem: string;
  input?: string;
}

/**
 * Ops that spend more CPU than this on a log of a few hundred KiB are hangs in the making.
 * CPU, not wall time: an fsync stalled behind other work on the machine is not our loop.
 */
const SLOW_CPU_MS = 3000;
/** Peak memory may not grow by more than this in one case (logs are under 1 MiB). */
const MAX_GROWTH_KIB = 256 * 1024;
/** Viewer device states are tried only for devices up to this size. */
const STATE_LIMIT = 64 << 20;

/** The device a clean walk implies, applied naively from the walked entries. */
async function naiveDevice(reader: LogReader, entries: Entry[], size: number): Promise<Uint8Array | undefined> {
  const dev = new Uint8Array(size);
  const S = reader.sectorSize;
  for (const e of entries) {
    if (!e.nrSectors) continue;
    const at = e.sector * S;
    if (at + e.nrSectors * S > size) return undefined;
    if (e.flags & Flag.DISCARD) dev.fill(0, at, at + e.nrSectors * S);
    else dev.set(await reader.source.read(e.payloadOffset, e.payloadLength), at);
  }
  return dev;
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
const isZero = (p: string) => fs.readFileSync(p).every((x) => x === 0);

async function main(): Promise<void> {
  // The parent caps file sizes (RLIMIT_FSIZE): a write past the cap fails with EFBIG instead
  // of killing us, so a replay that runs away from its target shows up as a failed case.
  process.on('SIGXFSZ', () => {});
  const cfg: DriverConfig = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8'));
  const bases = await Promise.all(cfg.bases.map((b) => loadBase(b.name, b.path)));
  const kernels = await loadNodeKernels();
  const counts: Record<string, number> = {};
  const failures: Failure[] = [];
  let cases = 0;
  let ops = 0;
  const logPath = path.join(cfg.caseDir, `case-${process.pid}.log`);
  const imgPath = path.join(cfg.caseDir, `case-${process.pid}.img`);

  for (let seed = cfg.from; seed < cfg.to; seed++) {
    fs.writeFileSync(cfg.progress, String(seed));
    const r = rng(seed);
    const base = r.pick(bases);
    const { bytes, steps } = mutate(base, r.pick(bases), r);
    const fail = (op: string, problem: string) => {
      const input = path.join(cfg.scratch, `fail-${seed}.log`);
      fs.writeFileSync(input, bytes);
      const f: Failure = { seed, base: base.name, steps, op, problem, input };
      failures.push(f);
      process.stdout.write(JSON.stringify(f) + '\n');
    };
    const rssBefore = process.resourceUsage().maxRSS;
    /** Run one op: an error of the family (LogwritesError) is a fine outcome; anything else, or slowness, is a failure. */
    const run = async (op: string, fn: () => Promise<void>) => {
      ops++;
      fs.writeFileSync(cfg.progress, `${seed} ${op}`);
      const t0 = process.cpuUsage();
      try {
        await fn();
        counts[`${op}:ok`] = (counts[`${op}:ok`] ?? 0) + 1;
      } catch (e) {
        if (e instanceof LogwritesError) counts[`${op}:${e.code}`] = (counts[`${op}:${e.code}`] ?? 0) + 1;
        else fail(op, `untyped ${(e as Error)?.name}: ${(e as Error)?.message ?? e}`);
      }
      const used = process.cpuUsage(t0);
      const ms = (used.user + used.system) / 1000;
      if (ms > SLOW_CPU_MS) fail(op, `took ${ms.toFixed(0)} ms of CPU`);
    };

    const source = concatSource([bytes]);
    let reader: LogReader | undefined;
    const walked: Entry[] = [];
    let clean = false;
    await run('open', async () => {
      reader = await LogReader.open(source);
    });
    cases++;
    if (reader) {
      const rd = reader;
      await run('walk', async () => {
        for await (const b of rd.batches({ payloads: true })) {
          for (const e of b.entries) {
            walked.push(e);
            for await (const piece of rd.payload(e, b))
              if (piece.length > e.payloadLength) throw new Error('payload piece too long');
          }
        }
        clean = true;
      });
      await run('walk-past-end', async () => {
        for await (const b of rd.batches({ pastEnd: true, checkPadding: true })) void b;
      });
      await run('info', async () => {
        const i = await logInfo(rd);
        if (clean && i.entries !== walked.length)
          throw new Error(`info counts ${i.entries}, the walk ${walked.length}`);
      });
      await run('list', async () => {
        for await (const e of filtered(rd, { flags: Flag.FUA | Flag.DISCARD }, true)) void e;
      });
      await run('find', async () => {
        for await (const e of rd.entries()) if (e.flags & Flag.FUA && e.index > 2) break;
      });
      await run('scan', async () => {
        await scanRange(rd, { until: Flag.MARK });
      });
      await run('recover', async () => {
        const rec = await recover(rd);
        if (clean && rec.validEntries < walked.length)
          throw new Error(`recover found ${rec.validEntries} of ${walked.length} entries`);
        if (rec.validEntries === rd.nrEntries) return;
        // What recover promises: with the count fixed, the log walks cleanly to that count.
        const fixed = source.bytes();
        fixed.set(superWithCount(fixed.subarray(0, rd.sectorSize), rec.validEntries));
        const again = await LogReader.open(memorySource(fixed));
        let n = 0;
        for await (const b of again.batches({ payloads: true })) n += b.entries.length;
        if (n !== rec.validEntries)
          throw new Error(`after recover, the log walks ${n} entries, not ${rec.validEntries}`);
      });
      let indexed: Awaited<ReturnType<typeof indexLog>> | undefined;
      await run('index', async () => {
        indexed = await indexLog(rd, { name: 'fuzz' });
        // The summary never claims more than the file holds, nor names a place past its end.
        const { summary } = indexed;
        if (summary.payloadBytes > bytes.length || summary.bytesIndexed > bytes.length)
          throw new Error(
            `summary counts past the file: payload ${summary.payloadBytes}, indexed ${summary.bytesIndexed}, file ${bytes.length}`,
          );
        const past = summary.warnings.find((w) => w.offset > bytes.length);
        if (past)
          throw new Error(`warning names byte ${past.offset}, past the ${bytes.length}-byte file: ${past.message}`);
      });
      await run('replay', async () => {
        const t = fixedTarget(base.deviceBytes);
        await replay(rd, t);
        const want = clean && !t.overruns ? await naiveDevice(rd, walked, base.deviceBytes) : undefined;
        if (want && !same(want, t.image))
          throw new Error('replay differs from the naive application of the walked entries');
        counts['replay:overruns'] = (counts['replay:overruns'] ?? 0) + t.overruns;
      });
      const ix = indexed?.index;
      const deviceBytes = (indexed?.summary.deviceSectors ?? 0) * rd.sectorSize;
      if (ix && deviceBytes <= STATE_LIMIT && Math.min(ix.count, rd.nrEntries) > 0) {
        await run('view-state', async () => {
          const st = new DeviceState(rd, ix.offset, kernels, deviceBytes);
          try {
            await st.goTo(Math.min(ix.count, rd.nrEntries) - 1);
          } finally {
            st.dispose();
          }
        });
      }
    }

    // The same log as a file, through the two command lines' own code paths.
    fs.writeFileSync(logPath, bytes);
    fs.writeFileSync(imgPath, '');
    fs.truncateSync(imgPath, base.deviceBytes);
    await run('cli-replay', async () => {
      try {
        await replayCommand(logPath, imgPath, { discard: 'zero', plan: 'sequential' });
      } catch (e) {
        // A refusal or a bad log must leave the target as it was.
        if (
          (e instanceof CliError ||
            e instanceof WriteRefused ||
            e instanceof TargetError ||
            e instanceof LogFormatError ||
            e instanceof RangeNotFound) &&
          !isZero(imgPath)
        )
          throw new Error(`target changed although replay failed: ${(e as Error).message}`);
        throw e;
      } finally {
        if (fs.statSync(imgPath).size !== base.deviceBytes)
          fail('cli-replay', `target grew to ${fs.statSync(imgPath).size} bytes`);
      }
    });
    for (const args of [['--num-entries'], ['--find', '--next-fua'], ['--replay', imgPath, '--end-mark', 'x']]) {
      fs.truncateSync(imgPath, 0);
      fs.truncateSync(imgPath, base.deviceBytes);
      await run(`replay-log ${args[0]}`, async () => {
        const err: string[] = [];
        const status = await replayLogMain(['--log', logPath, ...args], {
          out: { write: () => {}, flush: () => {} },
          err: (l) => void err.push(l),
          prog: 'replay-log',
        });
        // 255: upstream's find mode returns -1 from main on a bad entry.
        if (status !== 0 && status !== 1 && status !== 255) throw new Error(`exit ${status}`);
        if (err.some((l) => /^\s+at /m.test(l))) throw new Error(`stack trace on stderr: ${err.join(' | ')}`);
        if (status !== 0 && err.length !== 1) throw new Error(`${err.length} stderr lines: ${err.join(' | ')}`);
        const grew = fs.statSync(imgPath).size - base.deviceBytes;
        if (grew > 0) throw new Error(`the ${base.deviceBytes}-byte target grew by ${grew} bytes`);
      });
    }

    const growth = process.resourceUsage().maxRSS - rssBefore;
    if (growth > MAX_GROWTH_KIB) fail('memory', `peak RSS grew by ${(growth / 1024).toFixed(0)} MiB`);
  }
  fs.rmSync(logPath, { force: true });
  fs.rmSync(imgPath, { force: true });
  process.stdout.write(JSON.stringify({ summary: { cases, ops, counts, failures: failures.length } }) + '\n');
}

await main();
