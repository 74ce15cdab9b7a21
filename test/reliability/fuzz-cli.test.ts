// The same damaged logs as fuzz.test.ts, fewer of them, through the built command lines as a
// user runs them: each command ends with exit 0 or 1 and at most one line on stderr (no stack
// trace), within seconds and modest memory, and never changes the size of the target image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { zeroImage } from '../support/fixtures.ts';
import { loadBase, prepareBases } from './bases.ts';
import { builtBins, rng, runBin, scratchDirs } from './hostile.ts';
import { mutate, type Base } from './mutate.ts';

const CASES = Number(process.env.LOGWRITES_FUZZ_CLI_CASES ?? 25);
/** Seeds apart from the in-process run's, so these are different logs. */
const FIRST_SEED = 1_000_000;
const TARGET = 8 << 20;

const { dir, caseDir, remove } = scratchDirs('fuzz-cli');
afterAll(remove);
let bases: Base[] = [];

beforeAll(async () => {
  bases = await Promise.all((await prepareBases(dir)).bases.map((b) => loadBase(b.name, b.path)));
});

const COMMANDS: [string, (log: string, img: string) => [bin: 'logwrites' | 'replay-log', args: string[]]][] = [
  ['info', (log) => ['logwrites', ['info', log]]],
  ['list', (log) => ['logwrites', ['list', log, '--past-end', '--checksum']]],
  ['find', (log) => ['logwrites', ['find', log, '--next-fua']]],
  ['recover', (log) => ['logwrites', ['recover', log]]],
  ['replay', (log, img) => ['logwrites', ['replay', log, img]]],
  ['replay-log', (log, img) => ['replay-log', ['--log', log, '--replay', img]]],
];

it.skipIf(builtBins())(
  `${CASES} damaged logs through ${COMMANDS.length} commands each`,
  () => {
    const problems: string[] = [];
    let runs = 0;
    let peakKiB = 0;
    for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
      const r = rng(seed);
      const base = r.pick(bases);
      const { bytes, steps } = mutate(base, r.pick(bases), r);
      const log = path.join(caseDir, `case-${seed}.log`);
      fs.writeFileSync(log, bytes);
      for (const [name, make] of COMMANDS) {
        const img = zeroImage(caseDir, 'target.img', TARGET);
        const [bin, args] = make(log, img);
        const run = runBin(bin, args, dir, 20_000, 64 << 20);
        runs++;
        peakKiB = Math.max(peakKiB, run.maxRssKiB);
        const lines = run.stderr.split('\n').filter(Boolean);
        const bad = run.signal
          ? `killed by ${run.signal} after ${run.ms.toFixed(0)} ms`
          : ![0, 1].includes(run.status ?? -1)
            ? `exit ${run.status}`
            : lines.length > 1 || /^\s+at /m.test(run.stderr)
              ? `stderr: ${run.stderr.slice(0, 300)}`
              : run.maxRssKiB > 300 * 1024
                ? `peak RSS ${run.maxRssKiB} KiB`
                : fs.statSync(img).size !== TARGET
                  ? `target is now ${fs.statSync(img).size} bytes`
                  : undefined;
        if (bad) problems.push(`seed ${seed} (${base.name}: ${steps.join('+')}) ${name}: ${bad}`);
      }
      fs.rmSync(log);
    }
    console.log(`fuzz-cli: ${CASES} cases, ${runs} command runs, peak child RSS ${(peakKiB / 1024).toFixed(0)} MiB`);
    expect(problems).toEqual([]);
  },
  300_000,
);
