// `logwrites view [log] [--port N]`: serve the offline viewer on 127.0.0.1.

import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { nextStopSignal } from '../node/io/signals.ts';
import { startViewer } from '../node/view/server.ts';
import { parseCount } from './common.ts';

/** The built page: beside the CLI's bundle (dist/cli-main.cjs -> dist/web/), or under dist/ when run from the sources. */
function viewerRoot(): string {
  const candidates = ['./web/', '../../dist/web/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((dir) => fs.existsSync(`${dir}index.html`)) ?? candidates[0]!;
}

export function registerView(program: Command): void {
  program
    .command('view')
    .description(
      'open the viewer in a browser: serves it on 127.0.0.1, optionally with a log preloaded (nothing leaves this machine)',
    )
    .argument('[log]', 'log file to preload (streamed with range requests, never read whole)')
    .addOption(new Option('--port <n>', 'port to listen on').argParser(parseCount).default(0, 'any free one'))
    .addHelpText(
      'after',
      '\nExample:\n  $ logwrites view log.img --port 8080\n  then open the printed address; Ctrl-C stops the server.\n\nThe page also works without a server: open dist/web/index.html from disk.',
    )
    .action(async (log: string | undefined, o: { port: number }) => {
      const viewer = await startViewer({ root: viewerRoot(), log, port: o.port });
      process.stdout.write(`logwrites view: ${viewer.url}  (Ctrl-C to stop)\n`);
      await nextStopSignal();
      await viewer.close();
    });
}
