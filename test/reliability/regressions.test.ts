// Logs that once broke something (test/fixtures/regressions, all tiny), run through every
// command as a user would: each must end in a result or one line of error, in seconds, in
// modest memory, and never write past the end of the target image.
//
//   forged-discard.log     one DISCARD entry of 2^40 sectors (512 TiB) in a 1 KiB log
//   discard-past-end.log   one DISCARD of sectors 1024..3071 (1 MiB) past a 1 MiB target
//   write-far.log          one 512-byte write at sector 2^40 (replay-log grew a file by 29 MB
//                          on a fuzzed log like this before it learnt the target's end)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, scratchDir, zeroImage } from '../support/fixtures.ts';
import { builtBins, runBin } from './hostile.ts';

const dir = scratchDir('regressions');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const FIXTURES = path.join(ROOT, 'test/fixtures/regressions');
const logs = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.log'));
const TARGET = 1 << 20;

function expectOneLineOrNone(stderr: string) {
  expect(stderr.split('\n').filter(Boolean).length).toBeLessThanOrEqual(1);
  expect(stderr).not.toMatch(/^\s+at /m);
}

describe.skipIf(builtBins())('regression logs', () => {
  describe.each(logs)('%s', (name) => {
    const log = path.join(FIXTURES, name);

    for (const args of [
      ['info'],
      ['list', '--past-end'],
      ['recover'],
      ['replay', '--plan', 'sequential'],
      ['replay'],
    ]) {
      it(`logwrites ${args.join(' ')}: a result or one line, fast, small, nothing past the target`, () => {
        const target = zeroImage(dir, `${name}.img`, TARGET);
        const r = runBin(
          'logwrites',
          [args[0]!, log, ...(args[0] === 'replay' ? [target] : []), ...args.slice(1)],
          dir,
          8_000,
          64 << 20,
        );
        expect(r.signal, `killed after ${r.ms.toFixed(0)} ms`).toBeNull();
        expect([0, 1]).toContain(r.status);
        expectOneLineOrNone(r.stderr);
        expect(r.ms).toBeLessThan(5_000);
        expect(r.maxRssKiB).toBeLessThan(300 * 1024);
        expect(fs.statSync(target).size).toBe(TARGET);
      });
    }

    it('replay-log --replay: a result or one line, fast, nothing past the target', () => {
      const target = zeroImage(dir, `${name}-rl.img`, TARGET);
      const r = runBin('replay-log', ['--log', log, '--replay', target], dir, 8_000, 256 << 20);
      expect(r.signal, `killed after ${r.ms.toFixed(0)} ms`).toBeNull();
      expectOneLineOrNone(r.stderr);
      expect(r.stderr).not.toContain('EFBIG');
      expect(r.ms).toBeLessThan(5_000);
      expect(fs.statSync(target).size).toBe(TARGET);
    });
  });
});
