// What `replay-log` runs (dist/replay-log.cjs): the bundle dist/replay-log-main.cjs, compiled
// with its code cache (src/node/code-cache.ts).
import { runCached } from '../code-cache.ts';

runCached(__dirname, 'replay-log-main.cjs');
