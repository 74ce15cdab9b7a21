// logwrites: the platform-neutral core. Node adapters live in ./node, browser ones in ./browser.
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
