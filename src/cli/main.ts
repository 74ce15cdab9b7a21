// Entry point of the `logwrites` binary: one commander program, a module per group of commands.
import { Command } from 'commander';
import { registerAnalyze } from './analyze.ts';
import { stdout } from './common.ts';
import { EXIT_INPUT, failure } from './exit.ts';
import { registerDemo } from './demo.ts';
import { registerExplore } from './explore.ts';
import { registerInspect } from './inspect.ts';
import { registerRecover } from './recover.ts';
import { registerReplay } from './replay.ts';
import { registerReplayLogServer } from './replay-log-server.ts';
import { registerServe } from './serve.ts';
import { registerView } from './view.ts';
import { registerPlot } from './plot.ts';

const program = new Command('logwrites')
  .description('Read, replay, check, explore and serve Linux dm-log-writes logs.')
  .version('0.1.0')
  // A subcommand's options are its own (explore merge --json).
  .enablePositionalOptions()
  .addHelpText(
    'after',
    '\nExit status: 0 success, 1 error in input or usage, 2 a checker failed.\nThe upstream-compatible tool is `replay-log`.',
  )
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : EXIT_INPUT);
  })
  // Usage errors as every other error: one line, naming the way to the usage.
  .configureOutput({
    outputError: (text, write) =>
      write(`logwrites: ${text.trim().replace(/^error: /, '')} (run with --help for usage)\n`),
  });

// In the order --help lists them: look, replay, analyse, explore, serve, view, repair, demo.
registerInspect(program);
registerReplay(program);
registerReplayLogServer(program);
registerAnalyze(program);
registerExplore(program);
registerServe(program);
registerView(program);
registerPlot(program);
registerRecover(program);
registerDemo(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const { message, status } = failure(e);
  process.stderr.write(`logwrites: ${message}\n`);
  if (process.env.LOGWRITES_DEBUG) console.error(e);
  process.exitCode = status;
} finally {
  stdout.flush();
}
