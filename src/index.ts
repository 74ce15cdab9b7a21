/**
 * The platform-neutral core: read, index, replay, diff and write dm-log-writes logs, with the
 * WebAssembly kernels. It imports nothing from Node or the DOM; `logwrites/node` and
 * `logwrites/browser` add the platform's sources and targets and re-export all of this.
 * @module logwrites
 */
export * from './format.ts';
export * from './reader.ts';
export * from './log-index.ts';
export * from './indexer.ts';
export * from './replay.ts';
export * from './range.ts';
export * from './sector-map.ts';
export * from './last-write.ts';
export * from './diff.ts';
export * from './writer.ts';
export * from './kernels.ts';
export * from './steps.ts';
