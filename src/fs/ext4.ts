// ext4 (and ext2/3) on a device state: superblock and backups, group descriptors, bitmaps,
// inode tables, the JBD2 journal block by block, extent-tree blocks, directories and file
// data by path. Layout: the kernel's Documentation/filesystems/ext4 (all little-endian;
// JBD2 structures are big-endian).

import type { ByteSource } from '../reader.ts';
import { be32, le16, le32, readAt, name } from './bytes.ts';
import { MapAnnotator } from './base.ts';
import {
  fileName,
  sliced,
  walkPaths,
  type Annotator,
  type DirEntry,
  type Interval,
  type Piece,
  type What,
  type WriteContext,
} from './what.ts';

const EXT4_MAGIC = 0xef53;
const SB_OFFSET = 1024;

const COMPAT_HAS_JOURNAL = 0x4;
const COMPAT_SPARSE_SUPER2 = 0x200;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_META_BG = 0x10;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const RO_COMPAT_GDT_CSUM = 0x10;
const RO_COMPAT_METADATA_CSUM = 0x400;
const BG_INODE_UNINIT = 0x1;
const INODE_FLAG_EXTENTS = 0x80000;
const INODE_FLAG_INLINE = 0x10000000;
const EXTENT_MAGIC = 0xf30a;
const S_IFMT = 0xf000;
const S_IFDIR = 0x4000;
const S_IFLNK = 0xa000;
const RESIZE_INO = 7;

const JBD2_MAGIC = 0xc03b3998;
const JBD2_INCOMPAT_64BIT = 0x2;
const JBD2_INCOMPAT_CSUM_V2 = 0x8;
const JBD2_INCOMPAT_CSUM_V3 = 0x10;
const JBD2_KINDS: Record<number, string> = {
  1: 'descriptor',
  2: 'commit',
  3: 'superblock',
  4: 'superblock',
  5: 'revoke',
};
const JBD2_FLAG_ESCAPE = 0x1;
const JBD2_FLAG_SAME_UUID = 0x2;
const JBD2_FLAG_LAST_TAG = 0x8;

/** Inodes below s_first_ino that have a known role. */
const RESERVED: Record<number, string> = {
  3: 'user quota',
  4: 'group quota',
  5: 'boot loader',
  6: 'undelete directory',
  7: 'resize inode',
  8: 'journal',
};

interface Super {
  bs: number;
  blocks: number;
  firstDataBlock: number;
  bpg: number;
  ipg: number;
  inodeSize: number;
  descSize: number;
  groups: number;
  firstIno: number;
  journalInum: number;
  compat: number;
  incompat: number;
  roCompat: number;
  reservedGdt: number;
  backupBgs: [number, number];
  firstMetaBg: number;
}

function parseSuper(b: Uint8Array): Super {
  const bs = 1024 << le32(b, 24);
  const incompat = le32(b, 96);
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const blocks = le32(b, 4) + (is64 ? le32(b, 336) * 0x1_0000_0000 : 0);
  const firstDataBlock = le32(b, 20);
  const bpg = le32(b, 32);
  const rev = le32(b, 76);
  return {
    bs,
    blocks,
    firstDataBlock,
    bpg,
    ipg: le32(b, 40),
    inodeSize: rev ? le16(b, 88) : 128,
    descSize: is64 ? le16(b, 254) || 64 : 32,
    groups: Math.ceil((blocks - firstDataBlock) / bpg),
    firstIno: rev ? le32(b, 84) : 11,
    journalInum: le32(b, 224),
    compat: le32(b, 92),
    incompat,
    roCompat: le32(b, 100),
    reservedGdt: le16(b, 206),
    backupBgs: [le32(b, 0x24c), le32(b, 0x250)],
    firstMetaBg: le32(b, 260),
  };
}

/** Whether a device state holds an ext2/3/4 superblock with a geometry that makes sense. */
export async function isExt4(src: ByteSource): Promise<boolean> {
  const b = await readAt(src, SB_OFFSET, 1024);
  if (le16(b, 56) !== EXT4_MAGIC || le32(b, 24) > 6) return false;
  const sb = parseSuper(b);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  return (
    sb.bpg > 0 &&
    sb.ipg > 0 &&
    sb.groups > 0 &&
    sb.groups < 1 << 24 &&
    pow2(sb.inodeSize) &&
    sb.inodeSize >= 128 &&
    sb.inodeSize <= sb.bs &&
    pow2(sb.descSize)
  );
}

interface Group {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  flags: number;
  itableUnused: number;
}

/** A run of file blocks: logical block `lblk` onwards at device block `pblk`. */
interface Run {
  lblk: number;
  pblk: number;
  len: number;
  unwritten: boolean;
}

interface InodeMap {
  mode: number;
  runs: Run[];
  /** Blocks of the extent tree (or of an ext2/3 block map), with their level. */
  tree: { block: number; level: number }[];
  extents: boolean;
  xattr: number;
}

function hasBackup(sb: Super, g: number): boolean {
  if (g === 0) return true;
  if (sb.compat & COMPAT_SPARSE_SUPER2) return g === sb.backupBgs[0] || g === sb.backupBgs[1];
  if (!(sb.roCompat & RO_COMPAT_SPARSE_SUPER) || g === 1) return true;
  for (const p of [3, 5, 7]) {
    let x = p;
    while (x < g) x *= p;
    if (x === g) return true;
  }
  return false;
}

class Ext4 extends MapAnnotator {
  readonly fs = 'ext4' as const;
  private groups: Group[] = [];
  private readonly inodes = new Map<number, InodeMap>();
  private paths = new Map<number, string>();
  /** The journal: its blocks in journal order, its features and wrap-around bounds. */
  private journal = { blocks: [] as number[], incompat: 0, first: 1, maxlen: 0 };

  constructor(
    src: ByteSource,
    private readonly sb: Super,
  ) {
    super(src, sb.bs);
  }

  async build(): Promise<this> {
    const sb = this.sb;
    const gdtBlocks = Math.ceil((sb.groups * sb.descSize) / sb.bs);
    await this.readGroups(gdtBlocks);
    // A mounted (or crashed) ext4 keeps its newest metadata in the journal until checkpoint:
    // read through the committed transactions, as recovery would replay them.
    const journal = await this.readJournal();
    if (journal) {
      this.src = journalOverlay(this.src, sb.bs, await this.committed(journal));
      await this.readGroups(gdtBlocks);
    }
    this.addLayout(gdtBlocks);
    await this.readInodes();
    this.paths = await walkPaths(2, (dir) => this.listDir(dir));
    this.addFiles();
    this.map.seal();
    return this;
  }

  private async readGroups(gdtBlocks: number): Promise<void> {
    const sb = this.sb;
    const gdt = await this.block(sb.firstDataBlock + 1, gdtBlocks);
    this.groups = [];
    for (let g = 0; g < sb.groups; g++) {
      const d = g * sb.descSize;
      const hi = (at: number) => (sb.descSize >= 64 ? le32(gdt, d + at) * 0x1_0000_0000 : 0);
      this.groups.push({
        blockBitmap: le32(gdt, d) + hi(32),
        inodeBitmap: le32(gdt, d + 4) + hi(36),
        inodeTable: le32(gdt, d + 8) + hi(40),
        flags: le16(gdt, d + 18),
        itableUnused: le16(gdt, d + 28) + (sb.descSize >= 64 ? le16(gdt, d + 50) << 16 : 0),
      });
    }
  }

  /** Where every group's fixed structures are. */
  private addLayout(gdtBlocks: number): void {
    const sb = this.sb;
    this.map.add(SB_OFFSET, SB_OFFSET + 1024, { class: 'superblock', text: 'ext4 superblock', group: 'superblock' });
    const metaBg = (sb.incompat & INCOMPAT_META_BG) !== 0;
    const gdtHere = metaBg ? Math.min(gdtBlocks, sb.firstMetaBg) : gdtBlocks;
    for (let g = 0; g < sb.groups; g++) {
      if (!hasBackup(sb, g)) continue;
      const base = sb.firstDataBlock + g * sb.bpg;
      if (g > 0)
        this.add(base, 1, {
          class: 'superblock',
          text: `ext4 superblock backup (group ${g})`,
          group: 'superblock',
          fields: { group: g },
        });
      const gd = g ? 'ext4 group descriptors backup' : 'ext4 group descriptors';
      this.add(base + 1, gdtHere, {
        class: 'group',
        text: `${gd} (group ${g})`,
        group: 'group descriptors',
        fields: { group: g },
      });
      this.add(base + 1 + gdtHere, sb.reservedGdt, {
        class: 'group',
        text: `ext4 reserved gdt blocks (group ${g})`,
        group: 'group descriptors',
        fields: { group: g },
      });
    }
    const itBlocks = Math.ceil((sb.ipg * sb.inodeSize) / sb.bs);
    this.groups.forEach((gr, g) => {
      this.add(gr.blockBitmap, 1, {
        class: 'bitmap',
        text: `ext4 block bitmap group ${g}`,
        group: 'block bitmaps',
        fields: { group: g },
      });
      this.add(gr.inodeBitmap, 1, {
        class: 'bitmap',
        text: `ext4 inode bitmap group ${g}`,
        group: 'inode bitmaps',
        fields: { group: g },
      });
      this.add(
        gr.inodeTable,
        itBlocks,
        { class: 'inodes', text: `ext4 inode table group ${g}`, group: 'inode table', fields: { group: g } },
        { kind: 'inodes', first: g * sb.ipg + 1, inodeSize: sb.inodeSize },
      );
    });
  }

  /** Read every inode the bitmaps say is in use and map its blocks. */
  private async readInodes(): Promise<void> {
    const sb = this.sb;
    const csums = (sb.roCompat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)) !== 0;
    for (let g = 0; g < this.groups.length; g++) {
      const gr = this.groups[g]!;
      if (csums && gr.flags & BG_INODE_UNINIT) continue;
      const used = csums ? sb.ipg - gr.itableUnused : sb.ipg;
      if (used <= 0) continue;
      const bitmap = await this.block(gr.inodeBitmap);
      const table = await readAt(this.src, gr.inodeTable * sb.bs, used * sb.inodeSize);
      for (let i = 0; i < used; i++) {
        if (!(bitmap[i >> 3]! & (1 << (i & 7)))) continue;
        const ino = g * sb.ipg + i + 1;
        const inode = table.subarray(i * sb.inodeSize, (i + 1) * sb.inodeSize);
        if (!le16(inode, 0) && ino >= sb.firstIno) continue;
        this.inodes.set(ino, await this.mapInode(inode, ino));
      }
    }
  }

  private async mapInode(inode: Uint8Array, ino: number): Promise<InodeMap> {
    const flags = le32(inode, 32);
    const m: InodeMap = {
      mode: le16(inode, 0),
      runs: [],
      tree: [],
      extents: (flags & INODE_FLAG_EXTENTS) !== 0,
      xattr: le32(inode, 104) + le16(inode, 118) * 0x1_0000_0000,
    };
    const iblock = inode.subarray(40, 100);
    const size = le32(inode, 4);
    if (flags & INODE_FLAG_INLINE) return m;
    if (m.extents) await this.walkExtents(iblock, m);
    // The resize inode maps the reserved GDT blocks (already named): only its own block counts.
    else if (ino === RESIZE_INO) m.tree.push({ block: le32(iblock, 52), level: 1 });
    // A fast symlink keeps its target in i_block instead of block numbers.
    else if ((m.mode & S_IFMT) !== S_IFLNK || size >= 60) await this.walkBlockMap(iblock, m);
    return m;
  }

  private async walkExtents(node: Uint8Array, m: InodeMap): Promise<void> {
    if (le16(node, 0) !== EXTENT_MAGIC) return;
    const entries = le16(node, 2);
    const depth = le16(node, 6);
    for (let k = 0; k < entries; k++) {
      const e = 12 + k * 12;
      if (e + 12 > node.length) break;
      if (depth === 0) {
        const raw = le16(node, e + 4);
        const unwritten = raw > 32768;
        m.runs.push({
          lblk: le32(node, e),
          len: unwritten ? raw - 32768 : raw,
          pblk: le16(node, e + 6) * 0x1_0000_0000 + le32(node, e + 8),
          unwritten,
        });
      } else {
        const child = le32(node, e + 4) + le16(node, e + 8) * 0x1_0000_0000;
        if (child >= this.sb.blocks) continue;
        m.tree.push({ block: child, level: depth - 1 });
        // Each level down holds depth one less: anything else (a loop in damaged metadata) stops here.
        const below = await this.block(child);
        if (le16(below, 6) === depth - 1) await this.walkExtents(below, m);
      }
    }
  }

  /** ext2/3 block maps: 12 direct blocks, then single, double and triple indirect blocks. */
  private async walkBlockMap(iblock: Uint8Array, m: InodeMap): Promise<void> {
    const per = this.sb.bs / 4;
    let lblk = 0;
    const leaf = (pblk: number) => {
      const last = m.runs[m.runs.length - 1];
      if (last && last.pblk + last.len === pblk && last.lblk + last.len === lblk) last.len++;
      else if (pblk) m.runs.push({ lblk, pblk, len: 1, unwritten: false });
      lblk++;
    };
    const indirect = async (pblk: number, level: number): Promise<void> => {
      if (!pblk || pblk >= this.sb.blocks) {
        lblk += per ** (level + 1);
        return;
      }
      m.tree.push({ block: pblk, level });
      const b = await this.block(pblk);
      for (let k = 0; k < per; k++) {
        if (level === 0) leaf(le32(b, k * 4));
        else await indirect(le32(b, k * 4), level - 1);
      }
    };
    for (let k = 0; k < 12; k++) leaf(le32(iblock, k * 4));
    for (let level = 0; level < 3; level++) await indirect(le32(iblock, 48 + level * 4), level);
  }

  private async listDir(dir: number): Promise<DirEntry[]> {
    const m = this.inodes.get(dir);
    if (!m || (m.mode & S_IFMT) !== S_IFDIR) return [];
    const out: DirEntry[] = [];
    for (const r of m.runs) {
      // A run past the end of the file system is damage, not a directory to read.
      if (r.unwritten || r.pblk + r.len > this.sb.blocks) continue;
      const b = await this.block(r.pblk, r.len);
      for (let at = 0; at + 8 <= b.length; ) {
        const ino = le32(b, at);
        const recLen = le16(b, at + 4);
        const len = b[at + 6]!;
        if (recLen < 8 || (at % this.sb.bs) + recLen > this.sb.bs) {
          at = (Math.floor(at / this.sb.bs) + 1) * this.sb.bs; // a broken block: go on with the next
          continue;
        }
        if (ino && len && this.inodes.has(ino))
          out.push({ name: name(b, at + 8, len), ino, dir: (this.inodes.get(ino)!.mode & S_IFMT) === S_IFDIR });
        at += recLen;
      }
    }
    return out;
  }

  /** The journal's blocks and features; its start and sequence when it holds transactions to replay. */
  private async readJournal(): Promise<{ start: number; seq: number } | undefined> {
    const sb = this.sb;
    if (!(sb.compat & COMPAT_HAS_JOURNAL) || !sb.journalInum) return undefined;
    const g = Math.floor((sb.journalInum - 1) / sb.ipg);
    const at = this.groups[g]!.inodeTable * sb.bs + ((sb.journalInum - 1) % sb.ipg) * sb.inodeSize;
    const j = await this.mapInode(await readAt(this.src, at, sb.inodeSize), sb.journalInum);
    const blocks: number[] = [];
    for (const r of j.runs) for (let k = 0; k < r.len; k++) blocks[r.lblk + k] = r.pblk + k;
    this.journal.blocks = blocks;
    if (blocks[0] === undefined) return undefined;
    const jsb = await this.block(blocks[0]);
    if (be32(jsb, 0) !== JBD2_MAGIC) return undefined;
    this.journal.first = be32(jsb, 0x14);
    this.journal.maxlen = be32(jsb, 0x10);
    this.journal.incompat = be32(jsb, 4) === 4 ? be32(jsb, 0x28) : 0;
    const start = be32(jsb, 0x1c);
    return start ? { start, seq: be32(jsb, 0x18) } : undefined;
  }

  /**
   * Home block → the newest committed copy of it in the journal, scanning transactions from
   * the journal's start as recovery does (revoked blocks drop the copies before them).
   */
  private async committed(from: { start: number; seq: number }): Promise<Map<number, Copy>> {
    const { blocks, first, maxlen } = this.journal;
    const copies = new Map<number, Copy>();
    const wrap = (jb: number) => (jb >= maxlen ? first + (jb - maxlen) : jb);
    let pending: { home: number; jb: number; escaped: boolean }[] = [];
    let revoked: number[] = [];
    let jb = from.start;
    let seq = from.seq;
    for (let steps = 0; steps < maxlen && blocks[jb] !== undefined; steps++) {
      // Only headers are read: a descriptor's data blocks are stepped over by its tag count.
      const b = await this.block(blocks[jb]!);
      if (be32(b, 0) !== JBD2_MAGIC || be32(b, 8) !== seq) break;
      const type = be32(b, 4);
      if (type === 1) {
        const tags = this.tags(b, jb);
        pending.push(...tags);
        jb = wrap(jb + 1 + tags.length);
        continue;
      }
      if (type === 5) revoked.push(...this.revokes(b));
      else if (type === 2) {
        for (const home of revoked) copies.delete(home);
        for (const t of pending)
          if (blocks[t.jb] !== undefined) copies.set(t.home, { at: blocks[t.jb]! * this.sb.bs, escaped: t.escaped });
        pending = [];
        revoked = [];
        seq++;
      } else break;
      jb = wrap(jb + 1);
    }
    return copies;
  }

  private revokes(b: Uint8Array): number[] {
    const is64 = (this.journal.incompat & JBD2_INCOMPAT_64BIT) !== 0;
    const used = Math.min(be32(b, 12), b.length);
    const out: number[] = [];
    for (let at = 16; at + (is64 ? 8 : 4) <= used; at += is64 ? 8 : 4)
      out.push(is64 ? be32(b, at) * 0x1_0000_0000 + be32(b, at + 4) : be32(b, at));
    return out;
  }

  private addFiles(): void {
    for (const [ino, m] of this.inodes) {
      const path = this.paths.get(ino);
      const who = fileName(ino, path);
      const group = path ?? (RESERVED[ino] && ino < this.sb.firstIno ? RESERVED[ino]! : `inode ${ino}`);
      const isDir = (m.mode & S_IFMT) === S_IFDIR;
      if (m.xattr)
        this.add(m.xattr, 1, { class: 'inodes', text: `${who} xattr block`, group, inode: ino, ...(path && { path }) });
      for (const t of m.tree)
        this.add(t.block, 1, {
          class: 'btree',
          text: `${who} ${m.extents ? `extent tree level ${t.level}` : 'indirect block'}`,
          group,
          inode: ino,
          ...(path && { path }),
          fields: { level: t.level },
        });
      for (const r of m.runs) {
        const base = { inode: ino, ...(path && { path }), fileOffset: r.lblk * this.sb.bs };
        if (ino === this.sb.journalInum) {
          this.add(
            r.pblk,
            r.len,
            { class: 'journal', text: 'jbd2 journal', group: 'journal', ...base },
            { kind: 'content' },
          );
        } else if (ino < this.sb.firstIno && RESERVED[ino]) {
          this.add(r.pblk, r.len, {
            class: 'group',
            text: `ext4 ${RESERVED[ino]} (inode ${ino})`,
            group: RESERVED[ino]!,
            ...base,
          });
        } else {
          const kind = isDir ? 'directory' : r.unwritten ? 'data (unwritten)' : 'data';
          this.add(r.pblk, r.len, { class: isDir ? 'directory' : 'data', text: `${who} ${kind}`, group, ...base });
        }
      }
    }
  }

  /** JBD2 blocks, each named from its own header (or the descriptor that tagged it). */
  protected decode(iv: Interval, bytes: Uint8Array, context: WriteContext | undefined): Piece[] {
    const bs = this.sb.bs;
    const out: Piece[] = [];
    // Blocks that are neither headers nor tagged copies (zeros from mkfs, stale data) run together.
    let plain: { start: number; first: number; last: number } | undefined;
    const endPlain = (end: number) => {
      if (!plain) return;
      const { start, first, last } = plain;
      out.push({
        start,
        end,
        what: {
          class: 'journal',
          group: 'journal',
          text: first === last ? `jbd2 journal block ${first}` : `jbd2 journal blocks ${first}-${last}`,
          fields: { journalBlock: first, lastBlock: last },
        },
      });
      plain = undefined;
    };
    for (let at = iv.start; at < iv.end; ) {
      const next = Math.min(iv.end, at - (at % bs) + bs);
      const jb = Math.floor((iv.what.fileOffset! + (at - iv.start)) / bs);
      // The header is in the first bytes of the block: decode only when they are at hand.
      const what =
        at % bs === 0 ? this.journalBlock(jb, bytes.subarray(at - iv.start, next - iv.start), context) : undefined;
      if (what) {
        endPlain(at);
        out.push({ start: at, end: next, what });
      } else if (plain) plain.last = jb;
      else plain = { start: at, first: jb, last: jb };
      at = next;
    }
    endPlain(iv.end);
    return out;
  }

  /** A journal block's own header or the descriptor tag that names it; undefined when neither. */
  private journalBlock(jb: number, block: Uint8Array, context: WriteContext | undefined): What | undefined {
    if (block.length >= 12 && be32(block, 0) === JBD2_MAGIC) {
      const type = be32(block, 4);
      const seq = be32(block, 8);
      const kind = JBD2_KINDS[type];
      if (kind === 'superblock')
        return { class: 'journal', group: 'journal', text: 'jbd2 superblock', fields: { journalBlock: jb, type } };
      if (kind)
        return {
          class: 'journal',
          group: 'journal',
          text: `jbd2 ${kind} seq ${seq}`,
          fields: { journalBlock: jb, type, seq },
        };
    }
    const home = context?.journalHome.get(jb);
    if (!home) return undefined;
    const h = sliced(this.map.at(home.home * this.sb.bs, this.sb.bs));
    return {
      class: 'journal',
      group: 'journal',
      text: `jbd2 copy of block ${home.home} seq ${home.seq} (${h.text})`,
      fields: { journalBlock: jb, home: home.home, seq: home.seq },
    };
  }

  /** Descriptor blocks among `bytes` name the home block of the journal blocks after them. */
  learn(start: number, bytes: Uint8Array, context: WriteContext): void {
    const bs = this.sb.bs;
    for (const iv of this.map.query(start, start + bytes.length)) {
      if (iv.what.class !== 'journal' || iv.slice.kind !== 'content') continue;
      for (let at = iv.start + ((bs - (iv.start % bs)) % bs); at + bs <= iv.end; at += bs) {
        const b = bytes.subarray(at - start, at - start + bs);
        if (be32(b, 0) !== JBD2_MAGIC || be32(b, 4) !== 1) continue;
        const jb = (iv.what.fileOffset! + (at - iv.start)) / bs;
        this.descriptorTags(b, jb, context);
      }
    }
  }

  private descriptorTags(b: Uint8Array, jb: number, context: WriteContext): void {
    const seq = be32(b, 8);
    for (const t of this.tags(b, jb)) context.journalHome.set(t.jb, { home: t.home, seq });
  }

  /** A descriptor's tags: the journal block after it that each names, and that block's home. */
  private tags(b: Uint8Array, jb: number): { jb: number; home: number; escaped: boolean }[] {
    const { incompat, first, maxlen } = this.journal;
    const out: { jb: number; home: number; escaped: boolean }[] = [];
    const v3 = (incompat & JBD2_INCOMPAT_CSUM_V3) !== 0;
    const is64 = (incompat & JBD2_INCOMPAT_64BIT) !== 0;
    const tagBytes = v3 ? 16 : 8 + (is64 ? 4 : 0) + (incompat & JBD2_INCOMPAT_CSUM_V2 ? 2 : 0);
    const end = b.length - (v3 || incompat & JBD2_INCOMPAT_CSUM_V2 ? 4 : 0);
    let next = jb;
    for (let at = 12; at + tagBytes <= end; ) {
      const low = be32(b, at);
      const flags = v3 ? be32(b, at + 4) : (b[at + 6]! << 8) | b[at + 7]!;
      const high = is64 ? be32(b, at + 8) : 0;
      next = next + 1 >= maxlen ? first : next + 1;
      out.push({ jb: next, home: high * 0x1_0000_0000 + low, escaped: (flags & JBD2_FLAG_ESCAPE) !== 0 });
      at += tagBytes + (flags & JBD2_FLAG_SAME_UUID ? 0 : 16);
      if (flags & JBD2_FLAG_LAST_TAG) break;
    }
    return out;
  }
}

/** Where the committed journal copy of a home block is, and whether its magic was escaped. */
interface Copy {
  at: number;
  escaped: boolean;
}

/** The state as recovery would leave it: home blocks read from their newest committed copy. */
function journalOverlay(src: ByteSource, bs: number, copies: Map<number, Copy>): ByteSource {
  if (!copies.size) return src;
  return {
    size: src.size,
    async read(offset, length) {
      const out = (await readAt(src, offset, length)).slice();
      for (let blk = Math.floor(offset / bs); blk * bs < offset + length; blk++) {
        const c = copies.get(blk);
        if (!c) continue;
        const b = (await readAt(src, c.at, bs)).slice();
        if (c.escaped) new DataView(b.buffer, b.byteOffset).setUint32(0, JBD2_MAGIC);
        const lo = Math.max(offset, blk * bs);
        const hi = Math.min(offset + length, (blk + 1) * bs);
        out.set(b.subarray(lo - blk * bs, hi - blk * bs), lo - offset);
      }
      return out;
    },
  };
}

/** Build the ext4 annotator for a device state (its superblock already seen to be ext4). */
export async function ext4Annotator(src: ByteSource): Promise<Annotator> {
  return new Ext4(src, parseSuper(await readAt(src, SB_OFFSET, 1024))).build();
}
