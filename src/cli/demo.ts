// `logwrites demo`: runs node/demo/demo.ts and prints its report; exit status 2 when a check fails.

import type { Command } from 'commander';
import { runDemo } from '../node/demo/demo.ts';
import { EXIT_CHECK } from './exit.ts';
import { stdout } from './output.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('replay the bundled kernel-written ext4 log mark by mark and verify every state (npm start)')
    .action(async () => {
      if (!(await runDemo((line) => stdout.line(line)))) process.exitCode = EXIT_CHECK;
    });
}
