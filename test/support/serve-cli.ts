// A `logwrites` with only the serve commands, for tests to run as a separate process until the
// CLI entry registers them (bundled by test/support/serve-process.ts).
import { Command } from 'commander';
import { registerServe } from '../../src/cli/serve.ts';

const program = new Command('logwrites');
registerServe(program);
await program.parseAsync();
