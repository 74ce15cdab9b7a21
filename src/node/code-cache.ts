// The CLIs' bundles compiled with a V8 code cache: a process that starts, does one command and
// exits spends much of its time compiling. xfstests starts replay-log once per call (compiling
// its ~115 KB bundle was the largest part of what a call spent above bare Node's start: a find
// call as the native front runs it, 63.5 -> 58.9 ms, bare Node 45-54 ms; medians of 50,
// interleaved), and `logwrites` compiled its ES modules at every command (`logwrites replay`
// of ext4-fsync-many onto a loop device: 109 -> 81 ms, `--version` 55 -> 37 ms, bare Node 32;
// medians of 9). The build makes each cache from sample calls (build.mjs); V8 refuses a cache
// made by another V8, with other flags or for other source, and then compiles as it would have
// without one.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/** The bundle's cache file. */
export const cacheOf = (bundle: string): string => bundle.replace(/\.cjs$/, '.v8cache');

export interface CachedBundle {
  /** Run the bundle as the CommonJS module it is. */
  run(): void;
  /** Whether V8 refused the cache (or there was none). */
  readonly cold: boolean;
  /** The cache for what has been compiled so far: the cache file's next content. */
  cache(): Buffer;
}

/** The CommonJS bundle at `bundle` (an absolute path), compiled with its cache where V8 takes it. */
export function compileBundle(bundle: string): CachedBundle {
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheOf(bundle));
  } catch {
    // No cache: compiled from source.
  }
  const source = fs.readFileSync(bundle, 'utf8');
  // Node's own CommonJS wrapper, on the source's first line so that positions stay as they are.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
  });
  return {
    run() {
      const module = { exports: {} };
      script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
    },
    cold: !cachedData || script.cachedDataRejected === true,
    cache: () => script.createCachedData(),
  };
}

/**
 * Run the CommonJS bundle `name` beside the caller (`dir`: its __dirname) with its cache. With
 * LOGWRITES_CODE_CACHE_OUT set (by the build's sample calls), write the cache of what the
 * call compiled there at exit; a call that started from the cache adds to it.
 */
export function runCached(dir: string, name: string): void {
  const out = process.env.LOGWRITES_CODE_CACHE_OUT;
  delete process.env.LOGWRITES_CODE_CACHE_OUT;
  const bundle = compileBundle(path.join(dir, name));
  if (out) process.on('exit', () => fs.writeFileSync(out, bundle.cache()));
  bundle.run();
}
