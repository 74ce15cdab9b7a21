// Crash-state exploration beyond one machine: shards run as a real Slurm job array and merged
// into the report one unsharded run gives; shards from Kubernetes' JOB_COMPLETION_INDEX; merge
// refusing what does not belong together; a checker that hangs, killed with its children; a
// run cut short by --max-states that says so.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, scratchDir } from './support/fixtures.ts';
import { plantedLog } from './support/planted.ts';
import { startSlurm } from './support/slurm.ts';

const dir = scratchDir('explore-scale');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const ENGINE_VARIABLES = /^(SLURM_|JOB_COMPLETION_INDEX$|LOGWRITES_SHARDS$)/;
/** Our environment without a batch engine's variables (the tests may themselves run in one). */
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !ENGINE_VARIABLES.test(k)));

function logwrites(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], {
    encoding: 'utf8',
    env: { ...cleanEnv(), ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const ids = (r: { failures: { id: string }[] }) => r.failures.map((f) => f.id);
/** What merge must reproduce of an unsharded run. */
const outcome = (r: { summary: Record<string, unknown>; failures: { id: string }[] }) => ({
  ...Object.fromEntries(
    ['generated', 'unique', 'checked', 'failed', 'timedOut', 'complete'].map((k) => [k, r.summary[k]]),
  ),
  failures: ids(r),
});

describe('shards of one run', async () => {
  const planted = await plantedLog(dir);
  const check = `sh ${planted.checker} {image}`;
  const run = (name: string, ...more: string[]) => [
    'explore',
    planted.file,
    '--image',
    path.join(dir, `${name}.img`),
    '--exec',
    check,
    '--strategy',
    'omit-one',
    ...more,
  ];
  const unshardedReport = path.join(dir, 'unsharded.json');
  const unsharded = logwrites([...run('unsharded'), '--report', unshardedReport]);
  const whole = readJson(unshardedReport);

  it('an unsharded run finds the planted bug (the reference the shards are compared with)', () => {
    expect(unsharded.status, unsharded.stderr).toBe(2);
    expect(ids(whole)).toEqual(planted.expectedFailures);
    expect(whole.plan.log).toMatchObject({
      bytes: fs.statSync(planted.file).size,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  // The cluster lives inside the test, so that a run that filters this test out starts none and leaks none.
  it(
    'on a real single-node Slurm cluster, runs examples/slurm/explore.sbatch as sbatch --array=0-3; merge equals the unsharded run, and a reported state rebuilds failing',
    { timeout: 180_000 },
    async (ctx) => {
      const cluster = await startSlurm();
      if (typeof cluster === 'string') {
        console.warn(`skipping the Slurm test: ${cluster}`);
        return ctx.skip(cluster);
      }
      try {
        // `logwrites` on the PATH of the jobs, as an installed one would be.
        const bin = fs.mkdtempSync(path.join(dir, 'bin-'));
        fs.writeFileSync(
          path.join(bin, 'logwrites'),
          `#!/bin/sh\nexec '${process.execPath}' '${path.join(ROOT, 'bin/logwrites.js')}' "$@"\n`,
          { mode: 0o755 },
        );
        const out = path.join(dir, 'slurm-reports');
        const env = {
          ...cleanEnv(),
          ...cluster.env,
          PATH: `${bin}:${process.env.PATH}`,
          LOG: planted.file,
          OUT: out,
          CHECK: check,
          STRATEGY: 'omit-one',
          TIMEOUT: '60',
          TMPDIR: dir,
        };
        const job = spawnSync(
          'sbatch',
          [
            '--array=0-3',
            '--wait',
            '--output',
            path.join(dir, 'slurm-%a.out'),
            path.join(ROOT, 'examples/slurm/explore.sbatch'),
          ],
          { env, encoding: 'utf8' },
        );
        const logs = [0, 1, 2, 3]
          .map((k) => path.join(dir, `slurm-${k}.out`))
          .filter((f) => fs.existsSync(f))
          .map((f) => fs.readFileSync(f, 'utf8'))
          .join('\n');
        expect(job.status, job.stderr + logs).toBe(0);
        expect(fs.readdirSync(out).sort()).toEqual([1, 2, 3, 4].map((i) => `shard-${i}-of-4.json`));
        for (const i of [1, 2, 3, 4])
          expect(readJson(path.join(out, `shard-${i}-of-4.json`)).plan.shard).toEqual({ index: i, count: 4 });

        const merged = logwrites(['explore', 'merge', out, '--json']);
        expect(merged.status, merged.stderr).toBe(2);
        const report = JSON.parse(merged.stdout);
        expect(outcome(report)).toEqual(outcome(whole));
        expect(report.failures).toEqual(whole.failures.map((f: object) => ({ ...f })));
        const text = logwrites([
          'explore',
          'merge',
          ...[1, 2, 3, 4].map((i) => path.join(out, `shard-${i}-of-4.json`)),
        ]);
        expect(text.status).toBe(2);
        expect(text.stdout).toMatch(/^merged 4 shards of one run\n/);
        expect(text.stdout).toContain(`state ${planted.expectedFailures[0]} (epoch`);

        const img = path.join(dir, 'slurm-state.img');
        const m = logwrites(['explore', planted.file, '--materialize', report.failures[1].id, img]);
        expect(m.status, m.stderr).toBe(0);
        const again = spawnSync('sh', [planted.checker, img], { encoding: 'utf8' });
        expect(again.status).toBe(1);
        expect(again.stdout).toBe('commit 4 without its data\n');
      } finally {
        cluster.stop();
      }
    },
  );

  it('JOB_COMPLETION_INDEX with --shards (or LOGWRITES_SHARDS) splits as --shard i/n does, and so does a Slurm array', () => {
    const shard = (name: string, args: string[], env: Record<string, string> = {}) => {
      const report = path.join(dir, `${name}.json`);
      const r = logwrites([...run(name), '--report', report, ...args], env);
      expect(r.status, r.stderr).not.toBe(1);
      return readJson(report);
    };
    const split = (r: { plan: unknown; checked: string[]; failures: unknown[] }) => ({
      plan: r.plan,
      checked: [...r.checked].sort(),
      failures: r.failures,
    });
    for (const k of [0, 1, 2]) {
      const given = split(shard(`given-${k}`, ['--shard', `${k + 1}/3`]));
      expect(
        split(shard(`k8s-${k}`, ['--shard', 'auto', '--shards', '3'], { JOB_COMPLETION_INDEX: String(k) })),
      ).toEqual(given);
      expect(
        split(shard(`k8s-env-${k}`, ['--shard', 'auto'], { JOB_COMPLETION_INDEX: String(k), LOGWRITES_SHARDS: '3' })),
      ).toEqual(given);
      const slurm = {
        SLURM_ARRAY_TASK_ID: String(10 + 2 * k),
        SLURM_ARRAY_TASK_COUNT: '3',
        SLURM_ARRAY_TASK_MIN: '10',
        SLURM_ARRAY_TASK_MAX: '14',
        SLURM_ARRAY_TASK_STEP: '2',
      };
      expect(split(shard(`slurm-${k}`, ['--shard', 'auto'], slurm))).toEqual(given);
    }
    // A directory report: one file per shard, named by it.
    const out = path.join(dir, 'k8s-dir');
    expect(
      logwrites([...run('k8s-dir'), '--shard', 'auto', '--shards', '3', '--report', `${out}/`], {
        JOB_COMPLETION_INDEX: '2',
      }).status,
    ).not.toBe(1);
    expect(fs.readdirSync(out)).toEqual(['shard-3-of-3.json']);
  });

  it('--shard auto says in one line what it lacks', () => {
    for (const [env, args, message] of [
      [{}, [], /neither SLURM_ARRAY_TASK_ID .* nor JOB_COMPLETION_INDEX .* is set; give --shard i\/n/],
      [{ JOB_COMPLETION_INDEX: '0' }, [], /not how many shards there are: give --shards N/],
      [{ JOB_COMPLETION_INDEX: '3' }, ['--shards', '3'], /JOB_COMPLETION_INDEX 3 is not below the shard count 3/],
      [
        { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '7' },
        [],
        /Slurm array \(3 tasks, ids 1\.\.7\) is not a range/,
      ],
      [
        { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_MAX: '3' },
        ['--shards', '3'],
        /--shards 3 but the Slurm array has 4 tasks/,
      ],
    ] as const) {
      const r = logwrites([...run('auto-error'), '--shard', 'auto', ...args], env);
      expect(r.status, JSON.stringify(env)).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(fs.existsSync(path.join(dir, 'auto-error.img'))).toBe(false);
  });

  it('merge refuses reports of different runs, missing and duplicate shards, each in one line', () => {
    const shards = [1, 2, 3].map((i) => {
      const report = path.join(dir, `merge-${i}.json`);
      logwrites([...run(`merge-${i}`), '--shard', `${i}/3`, '--report', report]);
      return report;
    });
    const ok = logwrites(['explore', 'merge', ...shards, '--json']);
    expect(ok.status, ok.stderr).toBe(2);
    expect(outcome(JSON.parse(ok.stdout))).toEqual(outcome(whole));
    // Another strategy; another log (one byte of one payload differs); another shard count.
    const prefix = path.join(dir, 'merge-prefix.json');
    logwrites(
      [
        'explore',
        planted.file,
        '--image',
        path.join(dir, 'p.img'),
        '--exec',
        check,
        '--strategy',
        'prefix',
        '--shard',
        '3/3',
        '--report',
        prefix,
      ].map(String),
    );
    const bytes = fs.readFileSync(planted.file);
    bytes[bytes.length - 1]! ^= 1;
    const otherLog = path.join(dir, 'other.log');
    fs.writeFileSync(otherLog, bytes);
    const other = path.join(dir, 'merge-other.json');
    logwrites(['explore', otherLog, ...run('o').slice(2), '--shard', '3/3', '--report', other]);
    const half = path.join(dir, 'merge-half.json');
    logwrites([...run('h'), '--shard', '2/2', '--report', half]);
    // Plans alike, states not: what two versions of logwrites with another model would write.
    const tampered = path.join(dir, 'merge-tampered.json');
    const t = readJson(shards[1]!);
    t.summary.generated += 1;
    fs.writeFileSync(tampered, JSON.stringify(t));
    const garbage = path.join(dir, 'garbage.json');
    fs.writeFileSync(garbage, 'not json');
    for (const [files, message] of [
      [
        [shards[0], shards[1], prefix],
        /merge-prefix\.json is of another run than .*merge-1\.json \(they differ in strategies\)/,
      ],
      [
        [shards[0], shards[1], other],
        /merge-other\.json is of another run than .*merge-1\.json \(they differ in log\)/,
      ],
      [[shards[0], half], /merge-half\.json is shard 2 of 2, .*merge-1\.json is of 3 shards/],
      [[shards[0], shards[2]], /shard 2 of 3 missing \(given: 1, 3\)/],
      [[shards[0]], /shards 2, 3 of 3 missing \(given: 1\)/],
      [
        [shards[0], shards[1], shards[1], shards[2]],
        /shard 2 of 3 is given twice: .*merge-2\.json and .*merge-2\.json/,
      ],
      [[shards[0], garbage], /garbage\.json is not an explore report/],
      [[shards[0], tampered, shards[2]], /merge-tampered\.json generated \d+ states .* not shards of one run/],
    ] as const) {
      const r = logwrites(['explore', 'merge', ...files]);
      expect(r.status, files.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });
});

describe('a checker that outlives --timeout', async () => {
  const planted = await plantedLog(fs.mkdtempSync(path.join(dir, 'timeout-')));
  // The state with every write on disk: consistent, had its checker not hung.
  const slowState = String(planted.commitEntry(5) + 1);
  const pidFile = path.join(dir, 'slow-child.pid');
  const leftFile = path.join(dir, 'left-behind.pids');
  const checker = path.join(dir, 'slow-check.sh');
  fs.writeFileSync(
    checker,
    `if [ "$LOGWRITES_STATE" = "${slowState}" ]; then
  echo "checking slowly"
  sleep 300 &
  echo $! > ${pidFile}
  wait
fi
# A process left behind by a checker that ends on time goes with it too.
sleep 300 &
echo $! >> ${leftFile}
sh ${planted.checker} "$1"
`,
  );

  it('is killed with its children and reported as timed out, and the run goes on', () => {
    const args = [
      'explore',
      planted.file,
      '--image',
      path.join(dir, 'slow.img'),
      '--exec',
      `sh ${checker} {image}`,
      '--strategy',
      'omit-one',
      '--timeout',
      '1',
    ];
    const t = performance.now();
    const r = logwrites([...args, '--json'].map(String));
    expect(performance.now() - t).toBeLessThan(60_000);
    expect(r.status, r.stderr).toBe(2);
    const report = JSON.parse(r.stdout);
    const slow = report.failures.find((f: { id: string }) => f.id === slowState);
    expect(slow).toMatchObject({ timedOut: true, output: 'checking slowly\n' });
    // The other states were checked as without a timeout: the planted failures, and nothing else.
    expect(report.failures.filter((f: { timedOut: boolean }) => !f.timedOut).map((f: { id: string }) => f.id)).toEqual(
      planted.expectedFailures,
    );
    expect(report.summary).toMatchObject({
      timedOut: 1,
      failed: planted.expectedFailures.length + 1,
      complete: true,
      checked: report.summary.unique,
    });
    // Nothing of the checkers is left: the hung one's child and what the others left behind, sleeping for 300 s, are gone.
    const pids = [fs.readFileSync(pidFile, 'utf8'), ...fs.readFileSync(leftFile, 'utf8').split('\n')]
      .map((p) => p.trim())
      .filter(Boolean);
    expect(pids.length).toBeGreaterThan(report.summary.checked - 1);
    for (const pid of pids) {
      const stat = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      expect(stat === '' || /^\d+ \(.*\) Z/.test(stat), stat).toBe(true);
    }

    const text = logwrites(args.map(String));
    expect(text.stdout).toContain(`state ${slowState} (epoch`);
    expect(text.stdout).toMatch(
      new RegExp(`state ${slowState} \\(epoch \\d+, nothing missing\\) timed out after 1 s\\n  checking slowly\\n`),
    );
    expect(text.stdout).toContain('1 of the failed states timed out (--timeout 1 s): not known to be consistent');
  });
});

describe('a run cut short by --max-states', async () => {
  const planted = await plantedLog(fs.mkdtempSync(path.join(dir, 'max-')));

  it('says it is incomplete, and in which epoch it stopped; a cap that is not reached changes nothing', () => {
    const all = JSON.parse(logwrites(['explore', planted.file, '--strategy', 'omit-one', '--json']).stdout);
    const cut = JSON.parse(
      logwrites(['explore', planted.file, '--strategy', 'omit-one', '--max-states', '5', '--json']).stdout,
    );
    expect(cut.summary).toMatchObject({
      generated: 5,
      complete: false,
      stopped: { reason: 'max-states', epoch: cut.summary.lastEpoch },
    });
    expect(cut.summary.lastEpoch).toBeLessThan(all.summary.lastEpoch);
    const text = logwrites(['explore', planted.file, '--strategy', 'omit-one', '--max-states', '5']).stdout;
    expect(text).toContain(`incomplete: stopped at --max-states 5 in epoch ${cut.summary.lastEpoch}`);
    const exact = JSON.parse(
      logwrites([
        'explore',
        planted.file,
        '--strategy',
        'omit-one',
        '--max-states',
        String(all.summary.generated),
        '--json',
      ]).stdout,
    );
    expect(exact.summary).toMatchObject({ generated: all.summary.generated, complete: true, stopped: null });
  });
});
