// What a range of device bytes is to the file system on it: the answers every file-system
// annotator gives, and the sorted interval map they are built into.
//
// An annotator is built once per device state (one pass over the metadata) and then answers
// range queries by bisection. Places the metadata does not name stay "unknown": nothing here
// guesses from content alone, except structures that carry their own header (a JBD2 block,
// an xfs log record, a btrfs tree block), which are decoded from the bytes that were written.

export type FsName = 'ext4' | 'xfs' | 'btrfs';

/** Coarse classes, the same for every file system (for grouping and colouring). */
export type WhatClass =
  | 'superblock'
  | 'group' // ext4 group descriptors and reserved GDT, xfs AG headers
  | 'bitmap'
  | 'inodes' // inode table blocks, inode chunks
  | 'journal' // the JBD2 journal, the xfs log
  | 'btree' // xfs btree blocks, btrfs tree blocks, ext4 extent-tree blocks
  | 'directory'
  | 'data'
  | 'unknown';

export interface What {
  readonly class: WhatClass;
  /** One line for people, e.g. `inode 12 /d/e/a2 data`, `jbd2 commit seq 17`. */
  readonly text: string;
  /** What a diff groups it under: a file's path (or `inode N`), or a structure's name. */
  readonly group: string;
  readonly inode?: number;
  readonly path?: string;
  /** Inclusive inode numbers an inode-table range or inode chunk holds. */
  readonly inodes?: readonly [number, number];
  /** Byte offset within the file where the range starts (file data and directories). */
  readonly fileOffset?: number;
  /** Decoded header fields of a structure: seq, level, generation, owner, home block. */
  readonly fields?: Readonly<Record<string, number | string>>;
}

/** Device bytes [start, end) and what they are. */
export interface Piece {
  readonly start: number;
  readonly end: number;
  readonly what: What;
}

export const UNKNOWN: What = { class: 'unknown', text: 'unknown', group: 'unknown' };

/** How a stored interval turns into an answer for a part of it. */
export type Slice =
  /** The same answer for every part (a `fileOffset` moves with the part's start). */
  | { readonly kind: 'fixed' }
  /** Inode slots of `inodeSize` bytes, the first holding inode `first`. */
  | { readonly kind: 'inodes'; readonly first: number; readonly inodeSize: number }
  /** Self-describing blocks: the annotator decodes the bytes. */
  | { readonly kind: 'content' };

export interface Interval {
  readonly start: number;
  readonly end: number;
  readonly what: What;
  readonly slice: Slice;
}

const FIXED: Slice = { kind: 'fixed' };

/** Intervals sorted by start and made disjoint (the first added wins where two overlap). */
export class IntervalMap {
  private pending: Interval[] = [];
  private sorted: Interval[] = [];

  add(start: number, end: number, what: What, slice: Slice = FIXED): void {
    if (end > start) this.pending.push({ start, end, what, slice });
  }

  /**
   * Sort and make disjoint; call once after the last `add`. Where intervals overlap, the one
   * added first wins (annotators add structures before the file data and the catch-all
   * regions that contain them; overlaps between peers mean inconsistent metadata).
   */
  seal(): void {
    const ivs = this.pending;
    const order = ivs.map((_, i) => i).sort((a, b) => ivs[a]!.start - ivs[b]!.start || a - b);
    const out: Interval[] = [];
    // Sweep the boundaries left to right, keeping the intervals that cover the sweep point;
    // each stretch goes to the lowest insertion index among them.
    const active: number[] = [];
    let next = 0;
    let at = order.length ? ivs[order[0]!]!.start : 0;
    while (next < order.length || active.length) {
      while (next < order.length && ivs[order[next]!]!.start <= at) insertSorted(active, order[next++]!);
      for (let k = active.length - 1; k >= 0; k--) if (ivs[active[k]!]!.end <= at) active.splice(k, 1);
      if (!active.length) {
        if (next < order.length) at = ivs[order[next]!]!.start;
        continue;
      }
      const win = ivs[active[0]!]!;
      let end = win.end;
      if (next < order.length) end = Math.min(end, ivs[order[next]!]!.start);
      const last = out[out.length - 1];
      if (last && last.end === at && last.what === win.what && last.slice === win.slice)
        out[out.length - 1] = clip(win, last.start, end);
      else out.push(clip(win, at, end));
      at = end;
    }
    this.sorted = out;
    this.pending = [];
  }

  /** Index of the first interval that ends after `at`. */
  private first(at: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.sorted[mid]!.end <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The intervals overlapping [start, end), clipped to it, with unknown gaps between them. */
  *query(start: number, end: number): Generator<Interval> {
    let at = start;
    for (let i = this.first(start); i < this.sorted.length && this.sorted[i]!.start < end; i++) {
      const iv = this.sorted[i]!;
      if (iv.start > at) yield { start: at, end: iv.start, what: UNKNOWN, slice: FIXED };
      yield clip(iv, Math.max(at, iv.start), Math.min(end, iv.end));
      at = Math.min(end, iv.end);
    }
    if (at < end) yield { start: at, end, what: UNKNOWN, slice: FIXED };
  }

  /** The interval holding the block that starts at `start` (up to `blockSize` bytes of it). */
  at(start: number, blockSize = 1): Interval {
    return this.query(start, start + blockSize).next().value!;
  }

  /** Whether any self-describing interval overlaps [start, end). */
  hasContent(start: number, end: number): boolean {
    for (let i = this.first(start); i < this.sorted.length && this.sorted[i]!.start < end; i++)
      if (this.sorted[i]!.slice.kind === 'content') return true;
    return false;
  }

  /** Every interval, in device order. */
  all(): readonly Interval[] {
    return this.sorted;
  }
}

function insertSorted(list: number[], v: number): void {
  let k = list.length;
  while (k > 0 && list[k - 1]! > v) k--;
  list.splice(k, 0, v);
}

function clip(iv: Interval, start: number, end = iv.end): Interval {
  if (start === iv.start && end === iv.end) return iv;
  const what =
    iv.what.fileOffset !== undefined ? { ...iv.what, fileOffset: iv.what.fileOffset! + (start - iv.start) } : iv.what;
  const slice =
    iv.slice.kind === 'inodes'
      ? { ...iv.slice, first: iv.slice.first + Math.floor((start - iv.start) / iv.slice.inodeSize) }
      : iv.slice;
  return { start, end, what, slice };
}

/** The answer for an interval already clipped to a query (inode ranges resolved). */
export function sliced(iv: Interval): What {
  if (iv.slice.kind !== 'inodes') return iv.what;
  const { first, inodeSize } = iv.slice;
  const last = first + Math.ceil((iv.end - iv.start) / inodeSize) - 1;
  const inodes: [number, number] = [first, last];
  return {
    ...iv.what,
    inodes,
    text: `${iv.what.text}: ${first === last ? `inode ${first}` : `inodes ${first}-${last}`}`,
  };
}

/** An annotator for one device state. */
export interface Annotator {
  readonly fs: FsName;
  /** The file system's block size in bytes (the unit a diff counts). */
  readonly blockSize: number;
  /**
   * What device bytes [start, end) are, in order, covering the range. `bytes` are the bytes
   * there (an entry's payload, or the state's own): self-describing blocks (journal, log,
   * btrfs tree blocks) are decoded from them; without them those are named by place alone
   * (`jbd2 journal`, `xfs log`, the tree block the state's walk found).
   */
  what(start: number, end: number, bytes?: Uint8Array, context?: WriteContext): Promise<Piece[]>;
  /** Every interval the metadata names, in device order (tests, the viewer's legend). */
  intervals(): readonly Interval[];
  /** Whether `what` would decode the bytes written to [start, end) (self-describing blocks there). */
  needsBytes(start: number, end: number): boolean;
  /**
   * Facts the bytes written at `start` give for later writes (JBD2 descriptor tags: which
   * home block each journal block stands for), added into `context`.
   */
  learn?(start: number, bytes: Uint8Array, context: WriteContext): void;
}

/** What writes close together in a log tell about each other (see Annotator.learn). */
export interface WriteContext {
  /** Journal block → the home block its copy stands for, and the transaction. */
  readonly journalHome: Map<number, { home: number; seq: number }>;
}

export const newContext = (): WriteContext => ({ journalHome: new Map() });

/** Merge neighbouring pieces that say the same thing (same text and group). */
function mergePieces(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (
      last &&
      last.end === p.start &&
      last.what.text === p.what.text &&
      last.what.group === p.what.group &&
      p.what.fileOffset === undefined
    ) {
      out[out.length - 1] = { start: last.start, end: p.end, what: last.what };
    } else out.push(p);
  }
  return out;
}

/** One directory's entries, as a walk from the root needs them. */
export interface DirEntry {
  readonly name: string;
  readonly ino: number;
  readonly dir: boolean;
}

/**
 * Every inode reachable from `root` and its path (the first found where hard links give
 * several), walking directories breadth first; a directory met twice is read once.
 */
export async function walkPaths(
  root: number,
  list: (dir: number) => Promise<readonly DirEntry[]>,
): Promise<Map<number, string>> {
  const paths = new Map<number, string>([[root, '/']]);
  let level = [root];
  while (level.length) {
    const next: number[] = [];
    for (const dir of level) {
      const base = paths.get(dir)!;
      for (const e of await list(dir)) {
        if (e.name === '.' || e.name === '..' || paths.has(e.ino)) continue;
        paths.set(e.ino, base === '/' ? `/${e.name}` : `${base}/${e.name}`);
        if (e.dir) next.push(e.ino);
      }
    }
    level = next;
  }
  return paths;
}

/** How a file is named in answers: `inode 12 /d/e/a2`, or `inode 12` when no path reaches it. */
export const fileName = (ino: number, path: string | undefined) =>
  path === undefined ? `inode ${ino}` : `inode ${ino} ${path}`;

/**
 * Answer a query from an interval map: inode ranges resolved, self-describing intervals
 * handed to `decode` with their bytes, or named by place alone when there are none.
 */
export async function answer(
  map: IntervalMap,
  start: number,
  end: number,
  decode: (iv: Interval, bytes: Uint8Array) => Piece[] | Promise<Piece[]>,
  bytes?: Uint8Array,
): Promise<Piece[]> {
  const out: Piece[] = [];
  for (const iv of map.query(start, end)) {
    if (iv.slice.kind === 'content' && bytes)
      out.push(...(await decode(iv, bytes.subarray(iv.start - start, iv.end - start))));
    else out.push({ start: iv.start, end: iv.end, what: sliced(iv) });
  }
  return mergePieces(out);
}
