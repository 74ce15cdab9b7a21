// xfs on a device state: superblocks, AG headers (AGF, AGI, AGFL), the per-AG btrees, inode
// chunks, the internal log, and directory and file data by path for inodes in extent or
// btree format. Layout: "XFS Algorithms & Data Structures" (all big-endian).

import type { ByteSource } from '../reader.ts';
import { ascii, be16, be32, be64, name, readAt } from './bytes.ts';
import { MapAnnotator } from './base.ts';
import { fileName, walkPaths, type Annotator, type DirEntry, type Interval, type Piece, type What } from './what.ts';

const SB_MAGIC = 'XFSB';
const LOG_MAGIC = 0xfeedbabe;
const BB = 512;
const INCOMPAT_FTYPE = 0x1;
const INCOMPAT_SPINODES = 0x2;
const FEATURES2_FTYPE = 0x200;
const S_IFMT = 0xf000;
const S_IFDIR = 0x4000;
const FMT_LOCAL = 1;
const FMT_EXTENTS = 2;
const FMT_BTREE = 3;
/** Directory data blocks live below this byte offset in a directory (leaf and free blocks above). */
const DIR_LEAF_OFFSET = 32 * 1024 * 1024 * 1024;

/** Short-form btrees by magic: the name answers use, key and pointer sizes for walking nodes. */
const SHORT_BTREES: Record<string, { name: string; group: string; key: number }> = {
  ABTB: { name: 'bnobt', group: 'free space btrees', key: 8 },
  AB3B: { name: 'bnobt', group: 'free space btrees', key: 8 },
  ABTC: { name: 'cntbt', group: 'free space btrees', key: 8 },
  AB3C: { name: 'cntbt', group: 'free space btrees', key: 8 },
  IABT: { name: 'inobt', group: 'inode btrees', key: 4 },
  IAB3: { name: 'inobt', group: 'inode btrees', key: 4 },
  FIBT: { name: 'finobt', group: 'inode btrees', key: 4 },
  FIB3: { name: 'finobt', group: 'inode btrees', key: 4 },
  RMB3: { name: 'rmapbt', group: 'rmap btree', key: 40 },
  R3FC: { name: 'refcountbt', group: 'refcount btree', key: 4 },
};

interface Super {
  bs: number;
  agblocks: number;
  agcount: number;
  sectsize: number;
  inodesize: number;
  inopblog: number;
  agblklog: number;
  logstart: number;
  logblocks: number;
  rootino: number;
  dirbs: number;
  v5: boolean;
  ftype: boolean;
  sparse: boolean;
}

function parseSuper(b: Uint8Array): Super {
  const v5 = (be16(b, 100) & 0xf) === 5;
  const incompat = v5 ? be32(b, 216) : 0;
  const bs = be32(b, 4);
  return {
    bs,
    agblocks: be32(b, 84),
    agcount: be32(b, 88),
    sectsize: be16(b, 102),
    inodesize: be16(b, 104),
    inopblog: b[123]!,
    agblklog: b[124]!,
    logstart: be64(b, 48),
    logblocks: be32(b, 96),
    rootino: be64(b, 56),
    dirbs: bs << b[192]!,
    v5,
    ftype: v5 ? (incompat & INCOMPAT_FTYPE) !== 0 : (be32(b, 200) & FEATURES2_FTYPE) !== 0,
    sparse: (incompat & INCOMPAT_SPINODES) !== 0,
  };
}

/** Whether a device state starts with an xfs superblock with a geometry that makes sense. */
export async function isXfs(src: ByteSource): Promise<boolean> {
  const b = await readAt(src, 0, 512);
  if (ascii(b, 0, 4) !== SB_MAGIC) return false;
  const sb = parseSuper(b);
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  return (
    pow2(sb.bs) &&
    sb.bs >= 512 &&
    sb.bs <= 65536 &&
    pow2(sb.sectsize) &&
    sb.sectsize <= sb.bs &&
    sb.agcount > 0 &&
    sb.agblocks > 0 &&
    pow2(sb.inodesize) &&
    sb.agblklog < 32 &&
    2 ** sb.inopblog * sb.inodesize === sb.bs
  );
}

interface Run {
  off: number;
  block: number;
  len: number;
}

interface InodeMap {
  mode: number;
  data: Run[];
  attr: Run[];
  tree: { block: number; level: number }[];
  /** Short-form directory entries kept in the inode itself. */
  local?: DirEntry[];
}

class Xfs extends MapAnnotator {
  readonly fs = 'xfs' as const;
  private readonly inodes = new Map<number, InodeMap>();
  private paths = new Map<number, string>();

  constructor(
    src: ByteSource,
    private readonly sb: Super,
  ) {
    super(src, sb.bs);
  }

  /** Device block of an AG-relative block. */
  private dev(agno: number, agbno: number): number {
    return agno * this.sb.agblocks + agbno;
  }

  /** Device block of an absolute fs block number (AG number in the high bits). */
  private fsb(fsb: number): number {
    const shift = 2 ** this.sb.agblklog;
    return this.dev(Math.floor(fsb / shift), fsb % shift);
  }

  async build(): Promise<this> {
    const sb = this.sb;
    for (let ag = 0; ag < sb.agcount; ag++) await this.readAg(ag);
    if (sb.logstart) {
      this.add(
        this.fsb(sb.logstart),
        sb.logblocks,
        { class: 'journal', text: 'xfs log', group: 'log' },
        { kind: 'content' },
      );
    }
    this.paths = await walkPaths(sb.rootino, (dir) => this.listDir(dir));
    this.addFiles();
    this.map.seal();
    return this;
  }

  private async readAg(ag: number): Promise<void> {
    const { sectsize, bs } = this.sb;
    const base = this.dev(ag, 0) * bs;
    const header = (k: number, what: What) => this.map.add(base + k * sectsize, base + (k + 1) * sectsize, what);
    header(0, {
      class: 'superblock',
      text: ag ? `xfs superblock AG ${ag}` : 'xfs superblock',
      group: 'superblock',
      fields: { ag },
    });
    header(1, { class: 'group', text: `xfs AGF ${ag}`, group: 'AG headers', fields: { ag } });
    header(2, { class: 'group', text: `xfs AGI ${ag}`, group: 'AG headers', fields: { ag } });
    header(3, { class: 'group', text: `xfs AGFL ${ag}`, group: 'AG headers', fields: { ag } });
    const agf = await readAt(this.src, base + sectsize, sectsize);
    const agi = await readAt(this.src, base + 2 * sectsize, sectsize);
    if (ascii(agf, 0, 4) === 'XAGF') {
      for (const root of [be32(agf, 16), be32(agf, 20), be32(agf, 24), ...(this.sb.v5 ? [be32(agf, 88)] : [])]) {
        if (root) await this.walkShort(ag, root, () => undefined);
      }
      await this.freeList(ag, agf, await readAt(this.src, base + 3 * sectsize, sectsize));
    }
    if (ascii(agi, 0, 4) === 'XAGI') {
      await this.walkShort(ag, be32(agi, 20), (rec) => this.inodeChunk(ag, rec));
      if (this.sb.v5 && be32(agi, 328)) await this.walkShort(ag, be32(agi, 328), () => undefined);
    }
  }

  /** AGFL slots flfirst..fllast (circular) hold blocks set aside for btree growth. */
  private async freeList(ag: number, agf: Uint8Array, agfl: Uint8Array): Promise<void> {
    const first = be32(agf, 40);
    const count = be32(agf, 48);
    const at = this.sb.v5 ? 36 : 0;
    const slots = (this.sb.sectsize - at) / 4;
    for (let k = 0; k < count && k < slots; k++) {
      const agbno = be32(agfl, at + ((first + k) % slots) * 4);
      if (agbno < this.sb.agblocks)
        this.add(this.dev(ag, agbno), 1, {
          class: 'group',
          text: `xfs AGFL block AG ${ag} (reserved for btrees)`,
          group: 'AG headers',
          fields: { ag },
        });
    }
  }

  /** Walk a short-form (AG-relative) btree, naming each block and handing leaf records on. */
  private async walkShort(
    ag: number,
    agbno: number,
    record: (rec: Uint8Array) => void | Promise<void>,
    seen = new Set<number>(),
  ): Promise<void> {
    if (!agbno || agbno >= this.sb.agblocks || seen.has(agbno)) return;
    seen.add(agbno);
    const b = await this.block(this.dev(ag, agbno));
    const kind = SHORT_BTREES[ascii(b, 0, 4)];
    if (!kind) return;
    const level = be16(b, 4);
    const n = be16(b, 6);
    this.add(this.dev(ag, agbno), 1, {
      class: 'btree',
      text: `xfs ${kind.name} AG ${ag} level ${level}`,
      group: kind.group,
      fields: { ag, level },
    });
    const hdr = this.sb.v5 ? 56 : 16;
    if (level === 0) {
      if (kind.name === 'inobt') for (let k = 0; k < n; k++) await record(b.subarray(hdr + k * 16, hdr + (k + 1) * 16));
      return;
    }
    const maxrecs = Math.floor((this.sb.bs - hdr) / (kind.key + 4));
    for (let k = 0; k < n && k < maxrecs; k++)
      await this.walkShort(ag, be32(b, hdr + maxrecs * kind.key + k * 4), record, seen);
  }

  /** One inobt record: a chunk of 64 inodes (some of them holes with sparse inodes). */
  private async inodeChunk(ag: number, rec: Uint8Array): Promise<void> {
    const { inopblog, inodesize, agblklog, bs } = this.sb;
    const startino = be32(rec, 0);
    const holemask = this.sb.sparse ? be16(rec, 4) : 0;
    const free = [be32(rec, 8), be32(rec, 12)]; // bit i set: inode startino+i is free (high word first)
    const agStart = ag * 2 ** (agblklog + inopblog);
    const perBlock = 2 ** inopblog;
    // Four inodes per holemask bit; runs of present parts become one interval each.
    for (let part = 0; part < 16; ) {
      if (holemask & (1 << part)) {
        part++;
        continue;
      }
      let endPart = part;
      while (endPart < 16 && !(holemask & (1 << endPart))) endPart++;
      const first = startino + part * 4;
      const count = (endPart - part) * 4;
      const at = this.dev(ag, Math.floor(first / perBlock)) * bs + (first % perBlock) * inodesize;
      this.map.add(
        at,
        at + count * inodesize,
        { class: 'inodes', text: `xfs inode chunk AG ${ag}`, group: 'inodes', fields: { ag } },
        { kind: 'inodes', first: agStart + first, inodeSize: inodesize },
      );
      const bytes = await readAt(this.src, at, count * inodesize);
      for (let k = 0; k < count; k++) {
        const i = part * 4 + k;
        if ((free[i < 32 ? 1 : 0]! >>> i % 32) & 1) continue;
        const inode = bytes.subarray(k * inodesize, (k + 1) * inodesize);
        if (be16(inode, 0) === 0x494e) this.inodes.set(agStart + first + k, await this.mapInode(inode));
      }
      part = endPart;
    }
  }

  private async mapInode(inode: Uint8Array): Promise<InodeMap> {
    const version = inode[4]!;
    const lit = version >= 3 ? 176 : 100;
    const forkoff = inode[82]! * 8;
    const dataEnd = forkoff ? lit + forkoff : inode.length;
    const m: InodeMap = { mode: be16(inode, 2), data: [], attr: [], tree: [] };
    const dfork = inode.subarray(lit, dataEnd);
    const format = inode[5]!;
    if (format === FMT_EXTENTS) m.data = extents(dfork, be32(inode, 76));
    else if (format === FMT_BTREE) m.data = await this.bmbtRoot(dfork, m);
    else if (format === FMT_LOCAL && (m.mode & S_IFMT) === S_IFDIR) m.local = this.shortform(dfork);
    if (forkoff && inode[83] === FMT_EXTENTS) m.attr = extents(inode.subarray(lit + forkoff), be16(inode, 80));
    return m;
  }

  /** A btree-format fork: the root in the inode, its children long-form bmbt blocks. */
  private async bmbtRoot(fork: Uint8Array, m: InodeMap): Promise<Run[]> {
    const level = be16(fork, 0);
    const n = be16(fork, 2);
    const maxrecs = Math.floor((fork.length - 4) / 16);
    const runs: Run[] = [];
    for (let k = 0; k < n; k++) await this.bmbt(this.fsb(be64(fork, 4 + maxrecs * 8 + k * 8)), level - 1, m, runs);
    return runs;
  }

  private async bmbt(dev: number, level: number, m: InodeMap, runs: Run[]): Promise<void> {
    if (m.tree.length > 100000) return;
    m.tree.push({ block: dev, level });
    const b = await this.block(dev);
    const hdr = this.sb.v5 ? 72 : 24;
    const n = be16(b, 6);
    if (level <= 0) {
      runs.push(...extents(b.subarray(hdr), n));
      return;
    }
    const maxrecs = Math.floor((this.sb.bs - hdr) / 16);
    for (let k = 0; k < n && k < maxrecs; k++)
      await this.bmbt(this.fsb(be64(b, hdr + maxrecs * 8 + k * 8)), level - 1, m, runs);
  }

  private shortform(fork: Uint8Array): DirEntry[] {
    const count = fork[0]!;
    const wide = fork[1]! > 0;
    const ino = (at: number) => (wide ? be64(fork, at) : be32(fork, at));
    const out: DirEntry[] = [];
    let at = 2 + (wide ? 8 : 4);
    for (let k = 0; k < count && at < fork.length; k++) {
      const len = fork[at]!;
      const nameAt = at + 3;
      const inoAt = nameAt + len + (this.sb.ftype ? 1 : 0);
      out.push(this.entry(name(fork, nameAt, len), ino(inoAt)));
      at = inoAt + (wide ? 8 : 4);
    }
    return out;
  }

  private entry(entryName: string, ino: number): DirEntry {
    const m = this.inodes.get(ino);
    return { name: entryName, ino, dir: m !== undefined && (m.mode & S_IFMT) === S_IFDIR };
  }

  private async listDir(dir: number): Promise<DirEntry[]> {
    const m = this.inodes.get(dir);
    if (!m || (m.mode & S_IFMT) !== S_IFDIR) return [];
    if (m.local) return m.local.filter((e) => this.inodes.has(e.ino)).map((e) => this.entry(e.name, e.ino));
    const { bs, dirbs } = this.sb;
    const out: DirEntry[] = [];
    for (const r of m.data) {
      if (r.off * bs >= DIR_LEAF_OFFSET) continue;
      // One directory block at a time: a damaged extent cannot ask for gigabytes at once.
      for (let k = 0; k + dirbs / bs <= r.len; k += dirbs / bs)
        out.push(...this.dataBlock(await this.block(this.fsb(r.block) + k, dirbs / bs)));
    }
    return out.filter((e) => this.inodes.has(e.ino));
  }

  private dataBlock(b: Uint8Array): DirEntry[] {
    const magic = ascii(b, 0, 4);
    const blockForm = magic === 'XDB3' || magic === 'XD2B';
    if (!blockForm && magic !== 'XDD3' && magic !== 'XD2D') return [];
    const end = blockForm ? b.length - 8 - be32(b, b.length - 8) * 8 : b.length;
    const out: DirEntry[] = [];
    for (let at = this.sb.v5 ? 64 : 16; at + 8 < end; ) {
      if (be16(b, at) === 0xffff) {
        const len = be16(b, at + 2);
        if (len < 8) break;
        at += len;
        continue;
      }
      const len = b[at + 8]!;
      out.push(this.entry(name(b, at + 9, len), be64(b, at)));
      at += Math.ceil((8 + 1 + len + (this.sb.ftype ? 1 : 0) + 2) / 8) * 8;
    }
    return out;
  }

  private addFiles(): void {
    const bs = this.sb.bs;
    for (const [ino, m] of this.inodes) {
      const path = this.paths.get(ino);
      const who = fileName(ino, path);
      const group = path ?? `inode ${ino}`;
      const isDir = (m.mode & S_IFMT) === S_IFDIR;
      const named = { group, inode: ino, ...(path && { path }) };
      for (const t of m.tree)
        this.add(t.block, 1, {
          class: 'btree',
          text: `${who} bmbt level ${t.level}`,
          ...named,
          fields: { level: t.level },
        });
      for (const r of m.attr)
        this.add(this.fsb(r.block), r.len, { class: 'inodes', text: `${who} xattr`, ...named, fileOffset: r.off * bs });
      for (const r of m.data) {
        const kind = isDir ? (r.off * bs >= DIR_LEAF_OFFSET ? 'directory index' : 'directory') : 'data';
        this.add(this.fsb(r.block), r.len, {
          class: isDir ? 'directory' : 'data',
          text: `${who} ${kind}`,
          ...named,
          fileOffset: r.off * bs,
        });
      }
    }
  }

  /** The log, 512-byte basic block by basic block: record headers carry their cycle and LSN. */
  protected decode(iv: Interval, b: Uint8Array): Piece[] {
    const out: Piece[] = [];
    for (let at = iv.start; at < iv.end; ) {
      const next = Math.min(iv.end, at - (at % BB) + BB);
      const o = at - iv.start;
      let what: What = { class: 'journal', text: 'xfs log', group: 'log' };
      if (at % BB === 0 && next - at >= 24 && be32(b, o) === LOG_MAGIC) {
        const cycle = be32(b, o + 4);
        const lsn = `${be32(b, o + 16)}/${be32(b, o + 20)}`;
        what = {
          class: 'journal',
          text: `xfs log record cycle ${cycle} lsn ${lsn}`,
          group: 'log',
          fields: { cycle, lsn, length: be32(b, o + 12) },
        };
      }
      out.push({ start: at, end: next, what });
      at = next;
    }
    return out;
  }
}

/** Packed 128-bit extent records: flag:1, startoff:54, startblock:52, blockcount:21. */
function extents(b: Uint8Array, n: number): Run[] {
  const out: Run[] = [];
  for (let k = 0; k < n && (k + 1) * 16 <= b.length; k++) {
    const w0 = be32(b, k * 16);
    const w1 = be32(b, k * 16 + 4);
    const w2 = be32(b, k * 16 + 8);
    const w3 = be32(b, k * 16 + 12);
    const off = (w0 & 0x7fffffff) * 2 ** 23 + (w1 >>> 9);
    const block = (w1 & 0x1ff) * 2 ** 43 + w2 * 2 ** 11 + (w3 >>> 21);
    out.push({ off, block, len: w3 & 0x1fffff });
  }
  return out;
}

export async function xfsAnnotator(src: ByteSource): Promise<Annotator> {
  return new Xfs(src, parseSuper(await readAt(src, 0, 512))).build();
}
