/**
 * The platform-neutral core: read, index, replay, diff and write dm-log-writes logs, with the
 * WebAssembly kernels. It imports nothing from Node or the DOM; `logwrites/node` and
 * `logwrites/browser` add the platform's sources and targets and re-export all of this.
 * @module logwrites
 */
export * from './format.ts';
export * from './reader.ts';
export * from './entry-index/log-index.ts';
export * from './entry-index/build.ts';
export * from './replay/loop.ts';
export * from './range.ts';
export * from './replay/sector-map.ts';
export * from './replay/last-write.ts';
export * from './diff.ts';
export * from './writer.ts';
export * from './kernels/load.ts';
export * from './errors.ts';
export * from './entry-index/steps.ts';
