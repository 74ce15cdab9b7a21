// btrfs on a device state: superblock copies, every tree block of every tree (owner, level,
// generation from its header), and data extents of the fs trees by path. Logical addresses
// map to this device through the chunk tree (bootstrapped from the superblock's
// sys_chunk_array). Layout: the btrfs on-disk format documentation (little-endian).
//
// btrfs copies on write, so the block a write lands on may hold a different node in a later
// state: blocks in metadata chunks are therefore decoded from the bytes written when given.

import type { ByteSource } from '../reader.ts';
import { ascii, hex, le16, le32, le64, name, readAt } from './bytes.ts';
import { MapAnnotator } from './base.ts';
import { fileName, walkPaths, type Annotator, type DirEntry, type Interval, type Piece, type What } from './what.ts';

const SB_OFFSETS = [64 * 1024, 64 * 1024 * 1024, 256 * 1024 * 1024 * 1024];
const SB_MAGIC = '_BHRfS_M';
const HEADER = 101;
const INCOMPAT_METADATA_UUID = 0x400;
const BLOCK_GROUP_DATA = 0x1;
const BLOCK_GROUP_SYSTEM = 0x2;
const BLOCK_GROUP_METADATA = 0x4;
/** Profiles where every stripe holds the whole chunk (single, DUP, RAID1, RAID1C3/4). */
const STRIPED = 0x8 | 0x40 | 0x80 | 0x100; // RAID0, RAID10, RAID5, RAID6
const ITEM = {
  INODE_ITEM: 1,
  INODE_REF: 12,
  INODE_EXTREF: 13,
  EXTENT_DATA: 108,
  ROOT_ITEM: 132,
  CHUNK_ITEM: 228,
} as const;
const FIRST_FREE_OBJECTID = 256;
const CHUNK_TEXT = 'btrfs metadata chunk';
const CONTENT = { kind: 'content' } as const;
const S_IFMT = 0xf000;
const S_IFDIR = 0x4000;

const TREE_NAMES: Record<number, string> = {
  1: 'root',
  2: 'extent',
  3: 'chunk',
  4: 'dev',
  5: 'fs',
  7: 'csum',
  8: 'quota',
  9: 'uuid',
  10: 'free-space',
  11: 'block-group',
  12: 'raid-stripe',
};
const NEGATIVE_TREES: Record<number, string> = { [-6]: 'log', [-7]: 'log-fixup', [-8]: 'reloc', [-9]: 'data-reloc' };

/** A u64 object id as a number, the small negative ids (-6 log tree, -9 data reloc) kept negative. */
function objectid(b: Uint8Array, at: number): number {
  const hi = le32(b, at + 4);
  return hi === 0xffffffff ? le32(b, at) - 0x1_0000_0000 : hi * 0x1_0000_0000 + le32(b, at);
}

const treeName = (owner: number) =>
  TREE_NAMES[owner] ?? NEGATIVE_TREES[owner] ?? (owner >= FIRST_FREE_OBJECTID ? `subvolume ${owner}` : `tree ${owner}`);

/** Whether a device state holds a btrfs superblock with sizes that make sense. */
export async function isBtrfs(src: ByteSource): Promise<boolean> {
  const b = await readAt(src, SB_OFFSETS[0]!, 4096);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  return (
    ascii(b, 64, 8) === SB_MAGIC &&
    pow2(le32(b, 144)) &&
    pow2(le32(b, 148)) &&
    le32(b, 148) <= 65536 &&
    le32(b, 160) <= 2048
  );
}

interface Chunk {
  logical: number;
  length: number;
  type: number;
  /** Physical offsets of this device's copies. */
  copies: number[];
}

interface Key {
  objectid: number;
  type: number;
  offset: number;
}

class Btrfs extends MapAnnotator {
  readonly fs = 'btrfs' as const;
  private readonly nodesize: number;
  private readonly fsid: string;
  private readonly devid: number;
  private chunks: Chunk[] = [];
  private readonly seen = new Set<number>();

  constructor(
    src: ByteSource,
    private readonly sb: Uint8Array,
  ) {
    super(src, le32(sb, 144));
    this.nodesize = le32(sb, 148);
    this.fsid = hex(sb, le64(sb, 188) & INCOMPAT_METADATA_UUID ? 571 : 32, 16);
    this.devid = le64(sb, 201);
  }

  async build(): Promise<this> {
    const sb = this.sb;
    const total = le64(sb, 112);
    for (const [k, at] of SB_OFFSETS.entries()) {
      if (at + 4096 > total) break;
      const copy = await readAt(this.src, at, 4096);
      if (ascii(copy, 64, 8) !== SB_MAGIC) continue;
      this.map.add(at, at + 4096, {
        class: 'superblock',
        text: k ? `btrfs superblock copy ${k}` : 'btrfs superblock',
        group: 'superblock',
        fields: { copy: k, generation: le64(copy, 72) },
      });
    }
    this.readSysChunks();
    await this.walkTree(le64(sb, 88), (key, item) => {
      if (key.type === ITEM.CHUNK_ITEM) this.addChunk(key.offset, item);
    });
    const roots: { id: number; bytenr: number }[] = [];
    await this.walkTree(le64(sb, 80), (key, item) => {
      if (key.type === ITEM.ROOT_ITEM && item.length >= 239) roots.push({ id: key.objectid, bytenr: le64(item, 176) });
    });
    const logRoot = le64(sb, 96);
    if (logRoot) await this.walkTree(logRoot, () => undefined);
    for (const r of roots) {
      if (r.id === 5 || (r.id >= FIRST_FREE_OBJECTID && r.id < 2 ** 48)) await this.fsTree(r.id, r.bytenr);
      else await this.walkTree(r.bytenr, () => undefined);
    }
    for (const c of this.chunks) {
      // What is left of a metadata chunk is named from the bytes written there (see `what`).
      if (c.type & (BLOCK_GROUP_METADATA | BLOCK_GROUP_SYSTEM)) {
        for (const p of c.copies)
          this.map.add(p, p + c.length, { class: 'btree', text: CHUNK_TEXT, group: 'metadata' }, CONTENT);
      }
    }
    this.map.seal();
    return this;
  }

  private readSysChunks(): void {
    const size = le32(this.sb, 160);
    const arr = this.sb.subarray(811, 811 + size);
    for (let at = 0; at + 17 + 48 <= arr.length; ) {
      const logical = le64(arr, at + 9);
      const item = arr.subarray(at + 17);
      const n = le16(item, 44);
      this.addChunk(logical, item.subarray(0, 48 + n * 32));
      at += 17 + 48 + n * 32;
    }
  }

  private addChunk(logical: number, item: Uint8Array): void {
    if (this.chunks.some((c) => c.logical === logical)) return;
    const type = le64(item, 24);
    const n = le16(item, 44);
    const copies: number[] = [];
    for (let k = 0; k < n; k++) if (le64(item, 48 + k * 32) === this.devid) copies.push(le64(item, 48 + k * 32 + 8));
    if (!(type & STRIPED)) this.chunks.push({ logical, length: le64(item, 0), type, copies });
    this.chunks.sort((a, b) => a.logical - b.logical);
  }

  /** This device's physical offsets for a logical address (none where it is not here). */
  physical(logical: number): number[] {
    const c = this.chunks.find((x) => logical >= x.logical && logical < x.logical + x.length);
    return c ? c.copies.map((p) => p + (logical - c.logical)) : [];
  }

  private async node(logical: number): Promise<Uint8Array | undefined> {
    const [p] = this.physical(logical);
    if (p === undefined) return undefined;
    const b = await readAt(this.src, p, this.nodesize);
    return this.isNode(b, logical) ? b : undefined;
  }

  /** Every block of a tree, named from its header; leaf items handed to `item`. */
  private async walkTree(logical: number, item: (key: Key, data: Uint8Array) => void | Promise<void>): Promise<void> {
    if (!logical || this.seen.has(logical)) return;
    this.seen.add(logical);
    const b = await this.node(logical);
    if (!b) return;
    const what = this.header(b);
    for (const p of this.physical(logical)) this.map.add(p, p + this.nodesize, what, CONTENT);
    const n = le32(b, 96);
    const level = b[100]!;
    for (let k = 0; k < n; k++) {
      if (level) {
        const at = HEADER + k * 33;
        if (at + 33 > b.length) break;
        await this.walkTree(le64(b, at + 17), item);
      } else {
        const at = HEADER + k * 25;
        if (at + 25 > b.length) break;
        const off = HEADER + le32(b, at + 17);
        await item(
          { objectid: objectid(b, at), type: b[at + 8]!, offset: le64(b, at + 9) },
          b.subarray(off, off + le32(b, at + 21)),
        );
      }
    }
  }

  private header(b: Uint8Array): What {
    const owner = objectid(b, 88);
    const level = b[100]!;
    const generation = le64(b, 80);
    const tree = treeName(owner);
    return {
      class: 'btree',
      text: `btrfs tree ${tree} level ${level} gen ${generation}`,
      group: `${tree} tree`,
      fields: { owner, level, generation, logical: le64(b, 48) },
    };
  }

  /** A file tree: its blocks, then every regular extent named by inode and path. */
  private async fsTree(id: number, bytenr: number): Promise<void> {
    const refs = new Map<number, { parent: number; name: string }[]>();
    const dirs = new Set<number>();
    const extents: { ino: number; fileOffset: number; logical: number; length: number }[] = [];
    await this.walkTree(bytenr, (key, d) => {
      if (key.type === ITEM.INODE_ITEM && d.length >= 160 && (le32(d, 52) & S_IFMT) === S_IFDIR) dirs.add(key.objectid);
      else if (key.type === ITEM.INODE_REF) {
        for (let at = 0; at + 10 <= d.length; ) {
          const len = le16(d, at + 8);
          push(refs, key.objectid, { parent: key.offset, name: name(d, at + 10, len) });
          at += 10 + len;
        }
      } else if (key.type === ITEM.INODE_EXTREF) {
        for (let at = 0; at + 18 <= d.length; ) {
          const len = le16(d, at + 16);
          push(refs, key.objectid, { parent: le64(d, at), name: name(d, at + 18, len) });
          at += 18 + len;
        }
      } else if (key.type === ITEM.EXTENT_DATA && d.length >= 53 && d[20] !== 0) {
        const disk = le64(d, 21);
        // Compressed extents are stored whole; uncompressed ones use [offset, offset + num_bytes).
        const compressed = d[16] !== 0;
        if (disk)
          extents.push({
            ino: key.objectid,
            fileOffset: key.offset,
            logical: disk + (compressed ? 0 : le64(d, 37)),
            length: compressed ? le64(d, 29) : le64(d, 45),
          });
      }
    });
    const children = new Map<number, DirEntry[]>();
    for (const [ino, list] of refs)
      for (const r of list) push(children, r.parent, { name: r.name, ino, dir: dirs.has(ino) });
    const paths = await walkPaths(FIRST_FREE_OBJECTID, async (dir) => children.get(dir) ?? []);
    const sub = id === 5 ? '' : ` (subvolume ${id})`;
    for (const x of extents) {
      const path = paths.get(x.ino);
      const what: What = {
        class: 'data',
        text: `${fileName(x.ino, path)}${sub} data`,
        group: path ?? `inode ${x.ino}${sub}`,
        inode: x.ino,
        ...(path && { path }),
        fileOffset: x.fileOffset,
        fields: { tree: id, logical: x.logical },
      };
      this.addLogical(x.logical, x.length, what);
    }
  }

  /** Logical bytes, split where chunks end, at each copy on this device. */
  private addLogical(logical: number, length: number, what: What): void {
    for (let at = logical; at < logical + length; ) {
      const c = this.chunks.find((x) => at >= x.logical && at < x.logical + x.length);
      if (!c || !(c.type & BLOCK_GROUP_DATA)) return;
      const end = Math.min(logical + length, c.logical + c.length);
      const shifted = what.fileOffset === undefined ? what : { ...what, fileOffset: what.fileOffset + (at - logical) };
      for (const p of c.copies) this.map.add(p + (at - c.logical), p + (end - c.logical), shifted);
      at = end;
    }
  }

  /**
   * Blocks in metadata chunks: named from the written bytes when given (a tree block's own
   * header, for this fs and this address), else from the state (its walk, or the header there).
   */
  protected async decode(iv: Interval, bytes: Uint8Array): Promise<Piece[]> {
    const ns = this.nodesize;
    const out: Piece[] = [];
    for (let at = iv.start; at < iv.end; ) {
      const logical = this.logicalOf(at);
      const next = Math.min(iv.end, at + ns - (logical % ns));
      out.push({
        start: at,
        end: next,
        what: await this.metadataBlock(iv, at, logical, bytes.subarray(at - iv.start, next - iv.start)),
      });
      at = next;
    }
    return out;
  }

  /** A node-aligned block decodes from its bytes; the rest of a node is what the state says is there. */
  private async metadataBlock(iv: Interval, at: number, logical: number, written: Uint8Array): Promise<What> {
    const node = logical - (logical % this.nodesize);
    if (node === logical)
      return this.isNode(written, logical)
        ? this.header(written)
        : { class: 'btree', text: 'btrfs metadata, not a tree block', group: 'metadata' };
    if (iv.what.text !== CHUNK_TEXT) return iv.what;
    const b = await readAt(this.src, at - (logical - node), HEADER);
    return this.isNode(b, node)
      ? this.header(b)
      : { class: 'unknown', text: 'btrfs metadata chunk, unused', group: 'metadata' };
  }

  private isNode(b: Uint8Array, logical: number): boolean {
    return b.length >= HEADER && hex(b, 32, 16) === this.fsid && le64(b, 48) === logical;
  }

  private logicalOf(physical: number): number {
    for (const c of this.chunks)
      for (const p of c.copies) if (physical >= p && physical < p + c.length) return c.logical + (physical - p);
    return physical;
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

export async function btrfsAnnotator(src: ByteSource): Promise<Annotator> {
  return new Btrfs(src, await readAt(src, SB_OFFSETS[0]!, 4096)).build();
}
