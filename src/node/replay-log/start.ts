// What `replay-log` runs (dist/replay-log.cjs): the bundle dist/replay-log-main.cjs, compiled
// with its code cache (code-cache.ts). The build runs sample calls with
// LOGWRITES_CODE_CACHE_OUT set, and each writes the cache of what it compiled there at exit
// (a call that starts from the cache adds what it compiled to it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileBundle } from './code-cache.ts';

const out = process.env.LOGWRITES_CODE_CACHE_OUT;
delete process.env.LOGWRITES_CODE_CACHE_OUT;
const bundle = compileBundle(path.join(__dirname, 'replay-log-main.cjs'));
if (out) process.on('exit', () => fs.writeFileSync(out, bundle.cache()));
bundle.run();
