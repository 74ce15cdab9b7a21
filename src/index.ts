// logwrites: the platform-neutral core. Node adapters live in ./node, browser ones in ../web.
export * from './format.ts';
export * from './reader.ts';
export * from './replay.ts';
