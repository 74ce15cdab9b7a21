// `logwrites replay-log-server [--socket P] [--idle S]`: keep one warm process for replay-log's
// calls (src/node/replay-log/server.ts), which the native front (dist/replay-log) hands them to.

import { Option, type Command } from 'commander';
import { nextStopSignal } from '../node/io/signals.ts';
import { startReplayLogServer } from '../node/replay-log/server.ts';
import { parseCount } from './common.ts';

export function registerReplayLogServer(program: Command): void {
  program
    .command('replay-log-server')
    .description(
      "serve replay-log's calls from one warm process: dist/replay-log (the native front) hands each call, with its fds, to it",
    )
    .option(
      '--socket <path>',
      'where to listen (default: $LOGWRITES_REPLAY_LOG_SOCKET, else /tmp/logwrites-<uid>/replay-log.sock)',
    )
    .addOption(new Option('--idle <seconds>', 'stop after this long without a call').argParser(parseCount))
    .addHelpText(
      'after',
      "\nExample (xfstests):\n  $ logwrites replay-log-server --idle 600 &\n  $ ln -sf $PWD/dist/replay-log $XFSTESTS/src/log-writes/replay-log\n\nOne call at a time, as the calling user, on the caller's own stdout and stderr. Without a server\n(or LOGWRITES_SERVER=off) dist/replay-log runs each call in its own Node, as bin/replay-log.js does.",
    )
    .action(async (o: { socket?: string; idle?: number }) => {
      const log = (line: string) => process.stderr.write(`logwrites replay-log-server: ${line}\n`);
      const server = await startReplayLogServer({
        ...(o.socket !== undefined ? { socket: o.socket } : {}),
        ...(o.idle !== undefined ? { idleMs: o.idle * 1000 } : {}),
        log,
      });
      const why = await Promise.race([server.stopped, nextStopSignal().then((s) => `${s}`)]);
      await server.close();
      log(`stopped (${why}) after ${server.calls} calls`);
    });
}
