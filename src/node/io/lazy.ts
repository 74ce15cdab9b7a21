// Node built-ins that only some runs need, loaded on first use. replay-log starts once per
// call and xfstests calls it thousands of times a test; loading child_process, worker_threads
// and tty up front costs several milliseconds of every start (bench/xfstests measures it).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const childProcess = (): typeof import('node:child_process') => require('node:child_process');
export const workerThreads = (): typeof import('node:worker_threads') => require('node:worker_threads');
export const tty = (): typeof import('node:tty') => require('node:tty');
