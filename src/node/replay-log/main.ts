// Entry point of the `replay-log` binary. Bundled as CommonJS (dist/replay-log.cjs): Node
// starts a CommonJS entry faster than an ES module, and xfstests starts it once per call.
import { defaultIo, replayLogMain } from './replay-log.ts';

const io = defaultIo();
void replayLogMain(process.argv.slice(2), { ...io, prog: process.argv[1] ?? 'replay-log' }).then((status) => {
  process.exitCode = status;
});
