// Entry point of the `replay-log` binary.
import { defaultIo, replayLogMain } from './replay-log.ts';

const io = defaultIo();
process.exitCode = await replayLogMain(process.argv.slice(2), { ...io, prog: process.argv[1] ?? 'replay-log' });
