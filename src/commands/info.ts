// `info`: what a log holds, from one walk of its headers. The figures are a LogTally's, the
// same the viewer's summary panel shows.

import type { FlagName } from '../format.ts';
import type { LogReader } from '../reader.ts';
import { LogTally, type Summary } from '../entry-index/log-index.ts';

/** What `logwrites info --json` prints. */
export interface LogInfo {
  sectorSize: number;
  /** Entries the super counts. */
  nrEntries: number;
  /** Entries found within nr_entries. */
  entries: number;
  /** Valid entries found past nr_entries. */
  trailingEntries: number;
  flagCounts: Record<FlagName, number>;
  payloadBytes: number;
  /** Payload bytes of writes (discards carry none, so this equals payloadBytes). */
  writtenBytes: number;
  /** Bytes the discards zero on the device. */
  discardedBytes: number;
  /** The highest device sector written or discarded, or null when nothing is. */
  highestSector: number | null;
  marks: number;
  firstMark: string | null;
  lastMark: string | null;
  logBytes: number;
  /** Where the last entry ends: the log bytes the entries use. */
  usedBytes: number;
}

/** A log's summary as `info` reports it. */
export function infoOf(s: Summary): LogInfo {
  return {
    sectorSize: s.sectorSize,
    nrEntries: s.nrEntries,
    entries: s.entries - s.trailing,
    trailingEntries: s.trailing,
    flagCounts: { ...s.flagCounts },
    payloadBytes: s.payloadBytes,
    writtenBytes: s.payloadBytes,
    discardedBytes: s.discardedBytes,
    highestSector: s.deviceSectors ? s.deviceSectors - 1 : null,
    marks: s.marks,
    firstMark: s.firstMark ?? null,
    lastMark: s.lastMark ?? null,
    logBytes: s.logBytes,
    usedBytes: s.bytesIndexed,
  };
}

/**
 * What a log holds: entries within and past nr_entries, flags, payload, device extent, marks.
 * One pass over the headers; a malformed counted entry throws (LogFormatError).
 */
export async function logInfo(reader: LogReader): Promise<LogInfo> {
  const tally = new LogTally('', reader.source.size, reader.sectorSize, reader.nrEntries);
  for await (const batch of reader.batches({ pastEnd: true })) for (const e of batch.entries) tally.add(e);
  return infoOf(tally.summary(true));
}
