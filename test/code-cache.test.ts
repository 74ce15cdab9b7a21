// The CLIs' code caches (src/node/code-cache.ts): the ones the build made are taken by this
// Node, a call writes one when asked, and a cache V8 refuses changes nothing a call does.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheOf, compileBundle } from '../src/node/code-cache.ts';
import { kernelLog, manifest, ROOT, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';

const MAIN = path.join(ROOT, 'dist/replay-log-main.cjs');
const CLI_MAIN = path.join(ROOT, 'dist/cli-main.cjs');
const built = [MAIN, CLI_MAIN].every((b) => fs.existsSync(b) && fs.existsSync(cacheOf(b)));
const dir = scratchDir('code-cache');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A copy of the built replay-log (its start, bundle and addon) in `to`, with `cache` as its code cache. */
function copyBuilt(to: string, cache: Buffer): string {
  fs.mkdirSync(to, { recursive: true });
  for (const f of ['replay-log.cjs', 'replay-log-main.cjs', 'native.node'])
    if (fs.existsSync(path.join(ROOT, 'dist', f))) fs.copyFileSync(path.join(ROOT, 'dist', f), path.join(to, f));
  fs.writeFileSync(cacheOf(path.join(to, 'replay-log-main.cjs')), cache);
  return path.join(to, 'replay-log.cjs');
}

const call = (start: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(process.execPath, [start, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOGWRITES_CACHE: 'off', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe.skipIf(!built)('replay-log code cache', () => {
  it("the build made replay-log's and logwrites' caches, which this Node takes", () => {
    expect(compileBundle(MAIN).cold).toBe(false);
    expect(compileBundle(CLI_MAIN).cold).toBe(false);
  });

  it('a refused cache changes nothing a call prints or writes', () => {
    const log = kernelLog('ext4-fsync-many');
    const size = manifest('ext4-fsync-many').device_size;
    const refused = copyBuilt(path.join(dir, 'refused'), Buffer.from('not a V8 code cache'));
    expect(compileBundle(path.join(dir, 'refused/replay-log-main.cjs')).cold).toBe(true);
    const calls = [
      ['--log', log, '--find', '--next-fua', '--start-entry', '100'],
      ['--log', log, '--find', '--end-mark', 'nope'],
    ];
    for (const args of calls) expect(call(refused, args)).toEqual(call(path.join(ROOT, 'dist/replay-log.cjs'), args));
    const images = ['ours', 'refused'].map((n) => zeroImage(dir, `image-${n}`, size));
    const replay = (start: string, image: string) =>
      call(start, ['-vv', '--log', log, '--replay', image, '--limit', '2000']);
    expect(replay(refused, images[1]!)).toEqual(replay(path.join(ROOT, 'dist/replay-log.cjs'), images[0]!));
    expect(sha256File(images[1]!)).toBe(sha256File(images[0]!));
  });

  it('LOGWRITES_CODE_CACHE_OUT gets the cache of what the call compiled, which V8 then takes', () => {
    const start = copyBuilt(path.join(dir, 'made'), Buffer.alloc(0));
    const out = path.join(dir, 'made.v8cache');
    const r = call(start, ['--log', kernelLog('ext4-fsync-many'), '--num-entries'], { LOGWRITES_CODE_CACHE_OUT: out });
    expect(r).toMatchObject({ status: 0, stderr: '' });
    fs.copyFileSync(out, cacheOf(path.join(dir, 'made/replay-log-main.cjs')));
    expect(compileBundle(path.join(dir, 'made/replay-log-main.cjs')).cold).toBe(false);
  });
});

it.skipIf(built)(
  'code caches: skipped, dist/replay-log-main.cjs, dist/cli-main.cjs or a cache is missing (npm run build)',
  () => {},
);
