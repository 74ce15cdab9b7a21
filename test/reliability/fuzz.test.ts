// Seeded fuzzing of every log reader in the project with damaged and forged logs (see
// fuzz-driver.ts for the judging). The loop runs in a child so that a hang is a failure with
// a seed to reproduce, not a stuck test run: a case that makes no progress for CASE_LIMIT_MS
// is killed, recorded, and the run goes on from the next seed.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prepareBases, type BaseFile } from './bases.ts';
import type { DriverConfig, Failure } from './fuzz-driver.ts';
import { scratchDirs } from './hostile.ts';

/** Seeds per CI run; LOGWRITES_FUZZ_CASES raises it for a long local run. */
const CASES = Number(process.env.LOGWRITES_FUZZ_CASES ?? 1000);
const FIRST_SEED = Number(process.env.LOGWRITES_FUZZ_SEED ?? 1);
// Generous: a case takes milliseconds, but an fsync can stall for long on a busy machine.
const CASE_LIMIT_MS = 60_000;
const FSIZE_LIMIT = 256 << 20;

const { dir, caseDir, remove } = scratchDirs('fuzz');
afterAll(remove);
let driver = '';
let bases: BaseFile[] = [];

beforeAll(async () => {
  driver = path.join(dir, 'driver.mjs');
  await esbuild.build({
    entryPoints: [path.join(import.meta.dirname, 'fuzz-driver.ts')],
    outfile: driver,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    loader: { '.wasm': 'binary' },
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const prepared = await prepareBases(dir);
  bases = prepared.bases;
  for (const n of prepared.notes) console.warn(n);
});

interface Summary {
  cases: number;
  ops: number;
  counts: Record<string, number>;
}

/** Run seeds [from, to) in one child; resolves with what it reported, or the seed it hung on. */
function runDriver(
  from: number,
  to: number,
): Promise<{ failures: Failure[]; summary?: Summary; hungAt?: number; hungOp?: string }> {
  const progress = path.join(dir, 'progress');
  const config: DriverConfig = { bases, from, to, scratch: dir, caseDir, progress };
  const cfgPath = path.join(dir, 'config.json');
  fs.writeFileSync(cfgPath, JSON.stringify(config));
  fs.writeFileSync(progress, String(from));
  return new Promise((resolve) => {
    // A replay that runs away from its target must not fill the disk: cap file sizes.
    const child = spawn('prlimit', [`--fsize=${FSIZE_LIMIT}`, '--', process.execPath, driver, cfgPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let seen = '';
    let since = Date.now();
    let hungAt: number | undefined;
    let hungOp = '';
    const watch = setInterval(() => {
      const now = fs.readFileSync(progress, 'utf8');
      if (now !== seen) {
        seen = now;
        since = Date.now();
      } else if (Date.now() - since > CASE_LIMIT_MS) {
        hungAt = parseInt(now, 10);
        hungOp = now;
        child.kill('SIGKILL');
      }
    }, 250);
    child.on('close', (code, signal) => {
      clearInterval(watch);
      const lines = out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      const failures: Failure[] = lines.filter((l) => !l.summary);
      const summary = lines.find((l) => l.summary)?.summary;
      if (!summary && hungAt === undefined) {
        const seed = parseInt(fs.readFileSync(progress, 'utf8'), 10);
        failures.push({
          seed,
          base: '?',
          steps: [],
          op: 'driver',
          problem: `died (${signal ?? code}): ${err.trim().slice(-2000)}`,
        });
        hungAt = seed;
      }
      resolve({ failures, summary, hungAt, hungOp });
    });
  });
}

it(
  `${CASES} damaged logs: every reader ends in a typed error or a correct result, in bounded time and memory`,
  async () => {
    const failures: Failure[] = [];
    const total: Summary = { cases: 0, ops: 0, counts: {} };
    let from = FIRST_SEED;
    const end = FIRST_SEED + CASES;
    // A hang costs a restart; after five, what is wrong is clear enough.
    for (let restarts = 0; from < end && restarts <= 5; ) {
      const r = await runDriver(from, end);
      failures.push(...r.failures);
      if (r.summary) {
        total.cases += r.summary.cases;
        total.ops += r.summary.ops;
        for (const [k, v] of Object.entries(r.summary.counts)) total.counts[k] = (total.counts[k] ?? 0) + v;
      }
      if (r.hungAt === undefined) break;
      if (!r.failures.some((f) => f.seed === r.hungAt))
        failures.push({
          seed: r.hungAt,
          base: '?',
          steps: [],
          op: 'hang',
          problem: `no progress for ${CASE_LIMIT_MS} ms in ${r.hungOp}`,
        });
      total.cases += r.hungAt - from + 1;
      from = r.hungAt + 1;
      restarts++;
    }
    console.log(
      `fuzz: ${total.cases} cases, ${total.ops} reader runs over ${bases.length} base logs; outcomes ${JSON.stringify(total.counts)}`,
    );
    expect(failures.map((f) => `seed ${f.seed} (${f.base}: ${f.steps.join('+')}) ${f.op}: ${f.problem}`)).toEqual([]);
  },
  Math.max(600_000, CASES * 250),
);
