// What `logwrites` runs (dist/cli.cjs): the bundle dist/cli-main.cjs, compiled with its code
// cache (src/node/code-cache.ts).
import { runCached } from '../node/code-cache.ts';

runCached(__dirname, 'cli-main.cjs');
