// One structure class per log entry, for colouring the timeline: the coarse class (what.ts's
// WhatClass, the same set for ext4, xfs and btrfs) that covers most of the bytes the entry
// wrote or discarded, as the annotator of log-state.ts names them. Computed in one walk.

import type { LogReader, Entry } from '../reader.ts';
import { annotateEntries } from './log-state.ts';
import type { FsName, Piece, WhatClass } from './what.ts';

/** The classes in legend order; an entry's class is its index here. */
export const STRUCTURE_CLASSES: readonly WhatClass[] = [
  'superblock',
  'group',
  'bitmap',
  'inodes',
  'journal',
  'btree',
  'directory',
  'data',
  'unknown',
];

/** The class of an entry with no bytes (flush, mark) or no recognised file system. */
export const NO_CLASS = 255;

const UNKNOWN_CLASS = STRUCTURE_CLASSES.indexOf('unknown');

/** STRUCTURE_CLASSES index of the class covering most bytes of `pieces` (earlier classes win ties). */
export function dominantClass(pieces: readonly Piece[]): number {
  if (!pieces.length) return NO_CLASS;
  const bytes = new Array<number>(STRUCTURE_CLASSES.length).fill(0);
  for (const p of pieces) bytes[STRUCTURE_CLASSES.indexOf(p.what.class)]! += p.end - p.start;
  let best = 0;
  for (let k = 1; k < bytes.length; k++) if (bytes[k]! > bytes[best]!) best = k;
  return best;
}

export interface EntryClasses {
  /** The file system of the log's states (null when none was recognised in any). */
  readonly fs: FsName | null;
  /** Per entry, a STRUCTURE_CLASSES index or NO_CLASS. */
  readonly classes: Uint8Array;
}

/** Every entry's structure class (entries past nr_entries too, as the viewer indexes them). */
export async function entryClasses(reader: LogReader, count: number): Promise<EntryClasses> {
  const classes = new Uint8Array(count).fill(NO_CLASS);
  const wanted: Entry[] = [];
  for await (const e of reader.entries({ pastEnd: true })) {
    if (e.index >= count) break;
    if (!e.nrSectors) continue;
    wanted.push(e);
    classes[e.index] = UNKNOWN_CLASS;
  }
  let fs: FsName | null = null;
  for await (const a of annotateEntries(reader, wanted, { pastEnd: true })) {
    if (!a.fs) continue;
    fs = a.fs;
    classes[a.entry.index] = dominantClass(a.pieces);
  }
  return { fs, classes };
}
