// Entry point of the `replay-log` binary. Bundled as CommonJS (dist/replay-log.cjs): Node
// starts a CommonJS entry faster than an ES module, and xfstests starts it once per call.
import { processConsole, replayLogMain } from './replay-log.ts';

const con = processConsole();
void replayLogMain(process.argv.slice(2), { ...con, prog: process.argv[1] ?? 'replay-log' }).then((status) => {
  process.exitCode = status;
});
