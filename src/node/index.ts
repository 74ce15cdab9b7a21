/**
 * Node adapters: log files and block devices as sources and replay targets, and the
 * upstream-compatible `replay-log`. Re-exports the core (`logwrites`), the same classes.
 * @module logwrites/node
 */
export * from '../index.ts';
export * from './io/device-info.ts';
export * from './io/file.ts';
export * from './io/full-io.ts';
export * from './io/target.ts';
export { replayLogMain } from './replay-log/replay-log.ts';
