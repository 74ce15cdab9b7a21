/**
 * Browser adapters: a log from a Blob or over HTTP range requests, a device image in memory,
 * and the viewer's worker protocol (index, replay and diff a log off the page's thread).
 * Re-exports the core (`logwrites`), the same classes.
 * @module logwrites/browser
 */
export * from '../index.ts';
export { blobSource } from './blob-source.ts';
export { httpSource } from './http-source.ts';
export { memoryTarget, type ImageWatcher } from './memory-target.ts';
export {
  DeviceState,
  MAX_IMAGE_BYTES,
  type Diff as StateDiff,
  type StatePoint,
  type SectorRuns,
} from './device-state.ts';
export { serveViewer } from './service.ts';
export { ViewerClient, type Call } from './client.ts';
export type { Args, CallName, Calls, EntryDetail, Opened, Port, Progress, Result, SourceSpec } from './protocol.ts';
export {
  BadCall,
  HttpSourceError,
  ImageTooSmall,
  InternalError,
  LogwritesError,
  RemoteError,
  type ErrorCode,
  type ErrorJSON,
} from '../errors.ts';
