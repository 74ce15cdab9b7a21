// Entry point of the `replay-log` binary. Bundled as CommonJS (dist/replay-log.cjs): Node
// starts a CommonJS entry faster than an ES module, and xfstests starts it once per call.
import { processConsole, replayLogMain } from './replay-log.ts';

// The native front (client.c) runs this when no server takes its call, and passes its own
// argv[0] here (wire.h's LWRL_ARGV0_ENV); glibc's messages name argv[0].
const argv0 = process.env.LOGWRITES_ARGV0;
delete process.env.LOGWRITES_ARGV0;
const con = processConsole();
void replayLogMain(process.argv.slice(2), { ...con, prog: argv0 ?? process.argv[1] ?? 'replay-log' }).then((status) => {
  process.exitCode = status;
});
