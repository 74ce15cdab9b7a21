// Node adapters: files, block devices, the upstream-compatible replay-log.
export * from '../index.ts';
export * from './file.ts';
export * from './target.ts';
export { replayLogMain } from './replay-log.ts';
