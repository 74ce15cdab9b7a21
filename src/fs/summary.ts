// Answers put into words and grouped: the one-line "what" of a write, and a diff's changes
// by file and structure (`/d/e/a2: 2 data blocks; inode table: inode 12; journal: 3 blocks`).

import type { ByteSource } from '../reader.ts';
import { readAt } from './bytes.ts';
import { newContext, type Annotator, type Piece } from './what.ts';

/** The piece texts of an answer, each once, in device order. */
export function whatText(pieces: readonly Piece[]): string {
  const texts = [...new Set(pieces.map((p) => p.what.text))];
  return texts.length > 6 ? `${texts.slice(0, 6).join('; ')}; +${texts.length - 6} more` : texts.join('; ');
}

export function piecesJson(pieces: readonly Piece[]) {
  return pieces.map((p) => ({ offset: p.start, length: p.end - p.start, ...p.what }));
}

export interface GroupSummary {
  readonly group: string;
  readonly blocks: number;
  readonly unit: string;
  readonly inodes?: readonly number[];
}

/**
 * What each changed byte range [start, end) is in the state `source` holds (the later point
 * of a diff), its own bytes decoded; descriptors among the changes name their copies' homes.
 */
export async function describeRanges(
  annotator: Annotator,
  source: ByteSource,
  ranges: readonly (readonly [number, number])[],
): Promise<Piece[][]> {
  const context = newContext();
  const bytes = await Promise.all(
    ranges.map(([s, e]) => (annotator.needsBytes(s, e) ? readAt(source, s, e - s) : undefined)),
  );
  ranges.forEach(([s], i) => bytes[i] && annotator.learn?.(s, bytes[i], context));
  const out: Piece[][] = [];
  for (const [i, [s, e]] of ranges.entries()) out.push(await annotator.what(s, e, bytes[i], context));
  return out;
}

/** Pieces grouped: distinct blocks per group, and the inodes an inode-table change holds. */
export function summarize(pieces: readonly Piece[], blockSize: number): GroupSummary[] {
  const groups = new Map<string, { blocks: Set<number>; unit: string; inodes: Set<number> }>();
  for (const p of pieces) {
    const unit = p.what.class === 'data' ? 'data blocks' : p.what.class === 'directory' ? 'directory blocks' : 'blocks';
    let g = groups.get(p.what.group);
    if (!g) groups.set(p.what.group, (g = { blocks: new Set(), unit, inodes: new Set() }));
    for (let blk = Math.floor(p.start / blockSize); blk * blockSize < p.end; blk++) g.blocks.add(blk);
    if (p.what.inodes) for (let i = p.what.inodes[0]; i <= p.what.inodes[1]; i++) g.inodes.add(i);
  }
  return [...groups].map(([group, g]) => ({
    group,
    blocks: g.blocks.size,
    unit: g.unit,
    ...(g.inodes.size && { inodes: [...g.inodes].sort((x, y) => x - y) }),
  }));
}

export function summaryText(s: readonly GroupSummary[]): string {
  return s
    .map(
      (g) =>
        `${g.group}: ${g.inodes ? `${g.inodes.length === 1 ? 'inode' : 'inodes'} ${runsText(g.inodes)}` : `${g.blocks} ${g.blocks === 1 ? g.unit.replace(/s$/, '') : g.unit}`}`,
    )
    .join('; ');
}

/** Ascending numbers as `1-4, 7, 9-10`. */
function runsText(sorted: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
