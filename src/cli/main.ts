// Entry point of the `logwrites` binary: one commander program, a module per group of commands.
// Only the group of the command asked for is loaded (in the bundle, dist/cli-main.cjs, the
// others' modules are never initialized; its code cache holds what sample commands compiled,
// src/node/code-cache.ts): loading every group ran the whole CLI's module code before any
// command did (`logwrites --version` 58.8 ms, 48.5 ms loading none; `info` 68.0 and 61.8 ms;
// medians of 30, bare Node ~26 ms).
import { Command } from 'commander';
import { stdout } from './output.ts';
import { EXIT_INPUT, failure } from './exit.ts';

type Register = (program: Command) => void;

/**
 * The groups, in the order --help lists them (look, replay, analyse, explore, serve, view,
 * repair, demo), each with the top-level commands it registers.
 */
const GROUPS: [commands: string[], load: () => Promise<Register>][] = [
  [['info', 'list', 'marks', 'find'], async () => (await import('./inspect.ts')).registerInspect],
  [['replay'], async () => (await import('./replay.ts')).registerReplay],
  [['replay-log-server'], async () => (await import('./replay-log-server.ts')).registerReplayLogServer],
  [['diff', 'blame', 'digest'], async () => (await import('./analyze.ts')).registerAnalyze],
  [['explore'], async () => (await import('./explore.ts')).registerExplore],
  [['serve', 'mark', 'status'], async () => (await import('./serve.ts')).registerServe],
  [['view'], async () => (await import('./view.ts')).registerView],
  [['plot'], async () => (await import('./plot.ts')).registerPlot],
  [['recover'], async () => (await import('./recover.ts')).registerRecover],
  [['demo'], async () => (await import('./demo.ts')).registerDemo],
];

/** The groups a command line needs: its command's, none for --version, else all (help, a mistyped or missing command). */
function groupsFor(argv: string[]): (typeof GROUPS)[number][] {
  const first = argv[2] ?? '';
  if (first === '-V' || first === '--version') return [];
  const named = GROUPS.filter(([commands]) => commands.includes(first));
  return named.length ? named : GROUPS;
}

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

async function main(): Promise<void> {
  try {
    for (const register of await Promise.all(groupsFor(process.argv).map(([, load]) => load()))) register(program);
    await program.parseAsync(process.argv);
  } catch (e) {
    const { message, status } = failure(e);
    process.stderr.write(`logwrites: ${message}\n`);
    if (process.env.LOGWRITES_DEBUG) console.error(e);
    process.exitCode = status;
  } finally {
    stdout.flush();
  }
}
void main();
