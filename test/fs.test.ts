// File-system answers checked against each file system's own tools, on the kernel fixtures
// replayed (by our replay) to their marks and to the end: debugfs and dumpe2fs for ext4,
// xfs_db for xfs, btrfs inspect-internal and btrfs-map-logical for btrfs. Also: the answers
// from the log's own sector map (what `--fs` uses) equal those from the replayed image.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { annotate } from '../src/fs/detect.ts';
import { mapSource, stateAt } from '../src/fs/log-state.ts';
import { newContext, type Annotator, type Interval } from '../src/fs/what.ts';
import { readAt } from '../src/fs/bytes.ts';
import { openSource } from '../src/node/io/file.ts';
import { LogReader, memorySource } from '../src/reader.ts';
import { kernelLog, manifest, ROOT, scratchDir, zeroImage, type KernelFixture } from './support/fixtures.ts';
import { replayLog } from './support/run.ts';
import { FsError } from '../src/errors.ts';

const dir = scratchDir('fs-what');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sh = (cmd: string) => spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 256 << 20 });
const have = (tool: string) => sh(`command -v ${tool}`).status === 0;

/** Replay the fixture to a mark (or to its end) with our replay-log; the image path. */
async function imageAt(name: KernelFixture, mark: string | undefined): Promise<string> {
  const img = zeroImage(dir, `${name}-${mark ?? 'end'}.img`, manifest(name).device_size);
  const r = await replayLog('--log', kernelLog(name), '--replay', img, ...(mark ? ['--end-mark', mark] : []));
  expect(r.status, r.stderr).toBe(0);
  return img;
}

async function annotatorOf(img: string): Promise<Annotator> {
  const src = openSource(img);
  const a = await annotate(src);
  expect(a, `a file system on ${img}`).toBeDefined();
  return a!;
}

/** The answer for one device byte range, as text. */
async function textAt(a: Annotator, start: number, length: number): Promise<string> {
  return (await a.what(start, start + length)).map((p) => p.what.text).join('; ');
}

/** The same intervals from the log's sector map at the mark as from the replayed image. */
async function checkSameFromLog(name: KernelFixture, mark: string | undefined, a: Annotator): Promise<void> {
  const reader = await LogReader.open(openSource(kernelLog(name)));
  let at = reader.nrEntries - 1;
  if (mark) for await (const e of reader.entries()) if (e.mark === mark) at = e.index;
  const fromLog = await annotate(mapSource(reader, await stateAt(reader, at)));
  const brief = (ivs: readonly Interval[]) => ivs.map((iv) => `${iv.start}-${iv.end} ${iv.what.text}`);
  expect(brief(fromLog!.intervals())).toEqual(brief(a.intervals()));
}

const filesAt = (name: KernelFixture, mark: string | undefined) =>
  Object.keys((mark ? manifest(name).marks.find((m) => m.name === mark) : manifest(name).marks.at(-1))!.files);

describe.each(['ext4-512', 'ext4-fsync-many'] as const)('%s against debugfs and dumpe2fs', (name) => {
  const why =
    have('debugfs') && have('dumpe2fs') && have('e2fsck')
      ? ''
      : 'e2fsprogs (debugfs, dumpe2fs, e2fsck) is not installed';
  const marks = name === 'ext4-512' ? ['files', 'big', 'rename', 'many', undefined] : ['batch1', 'batch10', undefined];
  it.skipIf(why !== '').each(marks)(`state at mark %s${why ? ` (skipped: ${why})` : ''}`, async (mark) => {
    const img = await imageAt(name, mark);
    const a = await annotatorOf(img);
    await checkSameFromLog(name, mark, a);
    const bs = a.blockSize;
    // Layout from dumpe2fs.
    const dump = sh(`dumpe2fs ${img} 2>/dev/null`).stdout;
    const ipg = Number(/Inodes per group:\s+(\d+)/.exec(dump)![1]);
    let checked = 0;
    for (const grp of dump.split(/\nGroup (?=\d+:)/).slice(1)) {
      const g = Number(/^(\d+)/.exec(grp)![1]);
      const sb = /(Primary|Backup) superblock at (\d+), Group descriptors at (\d+)-(\d+)/.exec(grp);
      if (sb) {
        expect(await textAt(a, Number(sb[2]) * bs + (sb[1] === 'Primary' && bs > 1024 ? 1024 : 0), 1024)).toMatch(
          /^ext4 superblock/,
        );
        expect(await textAt(a, Number(sb[3]) * bs, bs)).toMatch(/^ext4 group descriptors/);
        checked += 2;
      }
      const reserved = /Reserved GDT blocks at (\d+)-(\d+)/.exec(grp);
      if (reserved) expect(await textAt(a, Number(reserved[1]) * bs, bs)).toMatch(/reserved gdt/);
      expect(await textAt(a, Number(/Block bitmap at (\d+)/.exec(grp)![1]) * bs, bs)).toBe(
        `ext4 block bitmap group ${g}`,
      );
      expect(await textAt(a, Number(/Inode bitmap at (\d+)/.exec(grp)![1]) * bs, bs)).toBe(
        `ext4 inode bitmap group ${g}`,
      );
      const it = /Inode table at (\d+)-(\d+)/.exec(grp)!;
      const first = (await a.what(Number(it[1]) * bs, Number(it[1]) * bs + bs))[0]!.what;
      expect(first.inodes?.[0]).toBe(g * ipg + 1);
      checked += 3;
    }
    expect(checked).toBeGreaterThan(10);
    // File blocks from debugfs, on a copy whose journal was replayed (debugfs reads home
    // blocks only; our annotator reads the committed journal through, as recovery would).
    const rec = `${img}.recovered`;
    fs.copyFileSync(img, rec);
    sh(`e2fsck -E journal_only -y ${rec}`);
    const owned = a.intervals().filter((iv) => iv.what.inode !== undefined);
    const blocks = owned.flatMap((iv) => [iv.start / bs, iv.end / bs - 1].map(Math.floor));
    const icheck = new Map(
      [
        ...sh(`debugfs -R "icheck ${[...new Set(blocks)].join(' ')}" ${rec} 2>/dev/null`).stdout.matchAll(
          /^(\d+)\s+(\d+)$/gm,
        ),
      ].map((m) => [Number(m[1]), Number(m[2])]),
    );
    for (const iv of owned)
      expect(icheck.get(Math.floor(iv.start / bs)), `${iv.what.text} at block ${iv.start / bs}`).toBe(iv.what.inode);
    const withPath = [
      ...new Map(
        owned.filter((iv) => iv.what.path && iv.what.path !== '/').map((iv) => [iv.what.inode!, iv.what.path!]),
      ),
    ];
    const ncheck = sh(`debugfs -R "ncheck ${withPath.map(([i]) => i).join(' ')}" ${rec} 2>/dev/null`).stdout;
    for (const [ino, p] of withPath)
      expect(ncheck).toMatch(new RegExp(`^${ino}\\s+/*${p.slice(1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    // The kernel's files at this mark, found by path, with their inode-table slot (imap).
    const files = filesAt(name, mark);
    for (const f of files) {
      const iv = owned.find((x) => x.what.path === `/${f}` && x.what.class === 'data');
      expect(iv, `/${f} has data blocks`).toBeDefined();
      const imap = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(
        sh(`debugfs -R "imap <${iv!.what.inode}>" ${rec} 2>/dev/null`).stdout,
      )!;
      const slot = (
        await a.what(Number(imap[1]) * bs + parseInt(imap[2]!, 16), Number(imap[1]) * bs + parseInt(imap[2]!, 16) + 1)
      )[0]!.what;
      expect(slot.text).toBe(
        `ext4 inode table group ${Math.floor((iv!.what.inode! - 1) / ipg)}: inode ${iv!.what.inode}`,
      );
      // Extent-tree blocks (ETB) debugfs lists for the file are ours too.
      for (const m of sh(`debugfs -R "stat <${iv!.what.inode}>" ${rec} 2>/dev/null`).stdout.matchAll(
        /\(ETB(\d+)\):(\d+)/g,
      )) {
        expect(await textAt(a, Number(m[2]) * bs, bs)).toBe(`inode ${iv!.what.inode} /${f} extent tree level ${m[1]}`);
      }
    }
    // The journal: every block logdump finds, by kind, and each copy's home block.
    const journal = a.intervals().filter((iv) => iv.what.class === 'journal');
    expect(journal.length).toBeGreaterThan(0);
    const jstart = (jb: number) => {
      const iv = journal.find(
        (x) => x.what.fileOffset! <= jb * bs && jb * bs < x.what.fileOffset! + (x.end - x.start),
      )!;
      return iv.start + (jb * bs - iv.what.fileOffset!);
    };
    const src = openSource(img);
    expect((await a.what(jstart(0), jstart(0) + bs, await readAt(src, jstart(0), bs)))[0]!.what.text).toBe(
      'jbd2 superblock',
    );
    const context = newContext();
    for (const iv of journal) a.learn!(iv.start, await readAt(src, iv.start, iv.end - iv.start), context);
    const logdump = sh(`debugfs -R "logdump -a" ${img} 2>/dev/null`).stdout;
    let seq = 0;
    for (const line of logdump.split('\n')) {
      const found = /Found expected sequence (\d+), type (\d) \(([a-z ]+)\) at block (\d+)/.exec(line);
      const copy = /FS block (\d+) logged at journal block (\d+)/.exec(line);
      if (found) {
        seq = Number(found[1]);
        const kind = { 1: 'descriptor', 2: 'commit', 5: 'revoke' }[Number(found[2])];
        const at = jstart(Number(found[4]));
        expect((await a.what(at, at + bs, await readAt(src, at, bs)))[0]!.what.text).toBe(`jbd2 ${kind} seq ${seq}`);
      } else if (copy) {
        const at = jstart(Number(copy[2]));
        expect((await a.what(at, at + bs, await readAt(src, at, bs), context))[0]!.what.text).toMatch(
          new RegExp(`^jbd2 copy of block ${copy[1]} seq ${seq} `),
        );
      }
    }
  });
});

describe('ext4 extent trees and ext2 block maps (images made by mkfs and debugfs)', () => {
  const why = have('mkfs.ext4') && have('debugfs') ? '' : 'e2fsprogs (mkfs.ext4, debugfs) is not installed';
  /** An image holding /f written by debugfs from `content`; debugfs's block list for it. */
  const made = (mkfs: string, name: string, content: (file: string) => void) => {
    const img = zeroImage(dir, `${name}.img`, 8 << 20);
    const src = path.join(dir, `${name}.src`);
    content(src);
    expect(sh(`${mkfs} -q -b 1024 ${img} && debugfs -w -R "write ${src} f" ${img}`).status).toBe(0);
    return { img, stat: sh(`debugfs -R "stat /f" ${img} 2>/dev/null`).stdout };
  };

  it.skipIf(why !== '')(
    `a fragmented file's extent-tree block and extents${why ? ` (skipped: ${why})` : ''}`,
    async () => {
      // Every other 4 KiB written: 21 extents, more than the inode holds, so a tree of depth 1.
      const { img, stat } = made('mkfs.ext4', 'frag', (src) => {
        const fd = fs.openSync(src, 'w');
        for (let i = 0; i <= 40; i += 2) fs.writeSync(fd, Buffer.from(`block ${i}`), 0, 7, i * 4096);
        fs.ftruncateSync(fd, 200 * 1024);
        fs.closeSync(fd);
      });
      const a = await annotatorOf(img);
      const etb = [...stat.matchAll(/\(ETB(\d+)\):(\d+)/g)];
      expect(etb.length).toBeGreaterThan(0);
      for (const m of etb)
        expect(await textAt(a, Number(m[2]) * 1024, 1024)).toBe(`inode 12 /f extent tree level ${m[1]}`);
      for (const m of stat.matchAll(/\((\d+)\):(\d+)/g)) {
        const [p] = await a.what(Number(m[2]) * 1024, Number(m[2]) * 1024 + 1024);
        expect(p!.what).toMatchObject({ text: 'inode 12 /f data', fileOffset: Number(m[1]) * 1024 });
      }
    },
  );

  it.skipIf(why !== '')(
    `an ext2 file's indirect block and the blocks it maps${why ? ` (skipped: ${why})` : ''}`,
    async () => {
      const { img, stat } = made('mkfs.ext2', 'blockmap', (src) => fs.writeFileSync(src, Buffer.alloc(40_000, 7)));
      const a = await annotatorOf(img);
      const ind = /\(IND\):(\d+)/.exec(stat)!;
      expect(await textAt(a, Number(ind[1]) * 1024, 1024)).toBe('inode 12 /f indirect block');
      for (const m of stat.matchAll(/\((\d+)-(\d+)\):(\d+)-(\d+)/g)) {
        const [p] = await a.what(Number(m[3]) * 1024, Number(m[3]) * 1024 + 1024);
        expect(p!.what).toMatchObject({ text: 'inode 12 /f data', fileOffset: Number(m[1]) * 1024 });
      }
    },
  );
});

const XFS_TYPES: Record<string, (ag: number, rest: string) => RegExp> = {
  sb: () => /^xfs superblock/,
  agf: (ag) => new RegExp(`^xfs AGF ${ag}$`),
  agi: (ag) => new RegExp(`^xfs AGI ${ag}$`),
  agfl: (ag) => new RegExp(`^xfs AGFL ${ag}$`),
  btbno: (ag) => new RegExp(`^xfs bnobt AG ${ag} level`),
  btcnt: (ag) => new RegExp(`^xfs cntbt AG ${ag} level`),
  btino: (ag) => new RegExp(`^xfs inobt AG ${ag} level`),
  btfino: (ag) => new RegExp(`^xfs finobt AG ${ag} level`),
  btrefc: (ag) => new RegExp(`^xfs refcountbt AG ${ag} level`),
  btrmap: (ag) => new RegExp(`^xfs rmapbt AG ${ag} level`),
  freelist: (ag) => new RegExp(`^xfs AGFL block AG ${ag}`),
  inode: (ag) => new RegExp(`^xfs inode chunk AG ${ag}: inodes`),
  log: () => /^xfs log/,
  data: (_, rest) => new RegExp(`^inode ${/inode (\d+)/.exec(rest)![1]} /${/inode \d+ (\S+)/.exec(rest)![1]} data$`),
  dir: (_, rest) => new RegExp(`^inode ${/inode (\d+)/.exec(rest)![1]}( /\\S*)? directory`),
  bmap: (_, rest) => new RegExp(`^inode ${/inode (\d+)/.exec(rest)![1]}( /\\S*)? bmbt`),
};

describe('xfs-4k against xfs_db', () => {
  const why = have('xfs_db') ? '' : 'xfsprogs (xfs_db) is not installed';
  // xfs keeps new metadata in its log at a mark: those states are checked after the kernel
  // replayed the log (mount, umount) when this machine can mount; the end of the log is clean.
  const canMount = process.getuid?.() === 0 && fs.existsSync('/dev/loop-control');
  const marks = canMount ? ['big', 'many', undefined] : [undefined];
  it.skipIf(why !== '').each(marks)(`state at mark %s${why ? ` (skipped: ${why})` : ''}`, async (mark) => {
    const img = await imageAt('xfs-4k', mark);
    const raw = await annotatorOf(img);
    await checkSameFromLog('xfs-4k', mark, raw);
    if (mark) {
      const mnt = fs.mkdtempSync(path.join(dir, 'xfs-mnt-'));
      expect(sh(`mount -t xfs -o loop ${img} ${mnt} && umount ${mnt}`).status, 'mount to replay the log').toBe(0);
    }
    const a = await annotatorOf(img);
    const bs = a.blockSize;
    const sbText = sh(`xfs_db -r -c "sb 0" -c "print agcount agblocks agblklog" ${img}`).stdout;
    const agcount = Number(/agcount = (\d+)/.exec(sbText)![1]);
    const agblocks = Number(/agblocks = (\d+)/.exec(sbText)![1]);
    const agblklog = Number(/agblklog = (\d+)/.exec(sbText)![1]);
    const cmds = Array.from(
      { length: agcount },
      (_, ag) => `-c "fsblock ${ag * 2 ** agblklog}" -c "blockuse -n -c ${agblocks}"`,
    ).join(' ');
    const use = sh(`xfs_db -r -c "blockget -n" ${cmds} ${img}`).stdout;
    const seen = new Set<string>();
    let compared = 0;
    for (const m of use.matchAll(/^block \d+ \((\d+)\/(\d+)\) type (\w+)(.*)$/gm)) {
      const [ag, agbno, type, rest] = [Number(m[1]), Number(m[2]), m[3]!, m[4]!];
      const dev = (ag * agblocks + agbno) * bs;
      const ours = await textAt(a, dev, bs);
      if (type.startsWith('free') || type === 'unknown') {
        expect(ours, `block ${ag}/${agbno} is free to xfs_db`).toMatch(/^(unknown|xfs AGFL block)/);
        continue;
      }
      const want = XFS_TYPES[type.replace(/^btbmap[ad]$/, 'bmap').replace(/^btrefcnt$/, 'btrefc')];
      expect(want, `xfs_db type ${type}`).toBeDefined();
      expect(ours, `block ${ag}/${agbno} (${type}${rest})`).toMatch(want!(ag, rest));
      seen.add(type);
      compared++;
    }
    for (const t of ['sb', 'agf', 'agi', 'agfl', 'btbno', 'btcnt', 'btino', 'inode', 'log', 'data'])
      expect(seen, `xfs_db found ${t} blocks`).toContain(t);
    expect(compared).toBeGreaterThan(16000);
    // Inode numbers in chunks: the root inode's byte, from xfs_db convert.
    const root = Number(/rootino = (\d+)/.exec(sh(`xfs_db -r -c "sb 0" -c "print rootino" ${img}`).stdout)![1]);
    const byte = Number(/\((\d+)\)/.exec(sh(`xfs_db -r -c "convert inode ${root} byte" ${img}`).stdout)![1]);
    expect((await a.what(byte, byte + 1))[0]!.what.inodes).toEqual([root, root]);
    // xfs_db's own view of the root inode agrees that it is a directory.
    expect(sh(`xfs_db -r -c "inode ${root}" -c "print core.magic core.mode" ${img}`).stdout).toMatch(
      /core.magic = 0x494e[\s\S]*core.mode = 04/,
    );
    for (const f of filesAt('xfs-4k', mark))
      expect(
        a.intervals().some((iv) => iv.what.path === `/${f}` && iv.what.class === 'data'),
        `/${f} found`,
      ).toBe(true);
  });
});

const BTRFS_OWNERS: Record<string, string> = {
  ROOT_TREE: 'root',
  EXTENT_TREE: 'extent',
  CHUNK_TREE: 'chunk',
  DEV_TREE: 'dev',
  FS_TREE: 'fs',
  CSUM_TREE: 'csum',
  UUID_TREE: 'uuid',
  FREE_SPACE_TREE: 'free-space',
  DATA_RELOC_TREE: 'data-reloc',
  BLOCK_GROUP_TREE: 'block-group',
};

describe('btrfs-512 against btrfs inspect-internal', () => {
  const why =
    have('btrfs') && have('btrfs-map-logical') ? '' : 'btrfs-progs (btrfs, btrfs-map-logical) is not installed';
  it.skipIf(why !== '').each(['files', 'big', 'rename', 'many', undefined])(
    `state at mark %s${why ? ` (skipped: ${why})` : ''}`,
    async (mark) => {
      const img = await imageAt('btrfs-512', mark);
      const a = await annotatorOf(img);
      await checkSameFromLog('btrfs-512', mark, a);
      const physical = (logical: number) =>
        [...sh(`btrfs-map-logical -l ${logical} ${img}`).stdout.matchAll(/physical (\d+)/g)].map((m) => Number(m[1]));
      expect(await textAt(a, 65536, 4096)).toBe('btrfs superblock');
      if (/bytenr\s+67108864/.test(sh(`btrfs inspect-internal dump-super -s 1 ${img}`).stdout))
        expect(await textAt(a, 67108864, 4096)).toBe('btrfs superblock copy 1');
      const dump = sh(`btrfs inspect-internal dump-tree ${img}`).stdout;
      let blocks = 0;
      for (const m of dump.matchAll(
        /^(?:node|leaf) (\d+) (?:level (\d+) )?items \d+ free space \d+ generation (\d+) owner (\S+)$/gm,
      )) {
        const owner = BTRFS_OWNERS[m[4]!] ?? `subvolume ${m[4]}`;
        for (const p of physical(Number(m[1]))) {
          expect(await textAt(a, p, 16384)).toBe(`btrfs tree ${owner} level ${m[2] ?? 0} gen ${m[3]}`);
          blocks++;
        }
      }
      expect(blocks).toBeGreaterThan(10);
      // Regular extents of the fs tree, and the names INODE_REF gives their inodes.
      const fsTree = sh(`btrfs inspect-internal dump-tree -t 5 ${img}`).stdout;
      const refs = new Map<number, { parent: number; name: string }>();
      for (const m of fsTree.matchAll(/key \((\d+) INODE_REF (\d+)\)[^\n]*\n\s+index \d+ namelen \d+ name: (.+)$/gm))
        refs.set(Number(m[1]), { parent: Number(m[2]), name: m[3]! });
      const pathOf = (ino: number): string =>
        ino === 256 ? '' : `${pathOf(refs.get(ino)!.parent)}/${refs.get(ino)!.name}`;
      const found = new Set<string>();
      for (const m of fsTree.matchAll(
        /key \((\d+) EXTENT_DATA (\d+)\)[^\n]*\n[^\n]*type 1 \(regular\)\n\s+extent data disk byte (\d+) nr \d+\n\s+extent data offset (\d+) nr (\d+)/g,
      )) {
        const [ino, disk, offset] = [Number(m[1]), Number(m[3]), Number(m[4])];
        if (!disk) continue;
        const p = pathOf(ino);
        for (const phys of physical(disk + offset)) expect(await textAt(a, phys, 4096)).toBe(`inode ${ino} ${p} data`);
        found.add(p);
      }
      // The kernel's files at the mark: those not stored inline in the tree have data extents.
      const inline = new Set(
        [...fsTree.matchAll(/key \((\d+) EXTENT_DATA \d+\)[^\n]*\n[^\n]*type 0 \(inline\)/g)].map((m) =>
          pathOf(Number(m[1])),
        ),
      );
      for (const f of filesAt('btrfs-512', mark)) if (!inline.has(`/${f}`)) expect(found, `/${f}`).toContain(`/${f}`);
    },
  );
});

describe('logwrites list|blame|diff --fs', () => {
  const lw = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
  const log = () => kernelLog('ext4-512');

  it('list names journal blocks, inode tables and file data; --json carries the same', () => {
    const r = lw('list', log(), '--fs', '--from', 'mark:files', '--to', 'mark:big');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ +123 .*sectors 18434\.\.20481 \(1048576 bytes = 1 MiB\)  inode 15 \/big data$/m);
    expect(r.stdout).toMatch(/^ +125 .*jbd2 descriptor seq 3$/m);
    expect(r.stdout).toMatch(/^ +126 .*jbd2 copy of block 275 seq 3 \(ext4 inode table group 0: inodes 1-4\)$/m);
    expect(r.stdout).toMatch(/^ +134 .*jbd2 commit seq 3$/m);
    const j = lw('list', log(), '--fs', '--json', '--from', '134', '--to', '134');
    const row = JSON.parse(j.stdout.trim());
    expect(row).toMatchObject({
      index: 134,
      fs: 'ext4',
      fsState: 135,
      fsWhat: [{ class: 'journal', text: 'jbd2 commit seq 3', fields: { seq: 3 } }],
    });
  });

  it('blame says what the sector was after each write', () => {
    const r = lw('blame', log(), '18434', '--fs');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ +123 +write .*inode 15 \/big data$/m);
    const rows = lw('blame', log(), '18434', '--fs', '--json')
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.find((x) => x.entry === 123)).toMatchObject({
      what: 'write',
      fs: 'ext4',
      fsWhat: [{ text: 'inode 15 /big data', path: '/big' }],
    });
  });

  it('diff groups the changes by file and structure', () => {
    const r = lw('diff', log(), 'mark:files', 'mark:big', '--fs');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^ext4 at entry 135: .*inode table: inodes 1-2, 11-14; .*\/big: 3072 data blocks; journal: 9 blocks$/m,
    );
    const j = JSON.parse(lw('diff', log(), 'mark:files', 'mark:big', '--fs', '--json').stdout);
    expect(j.fs).toBe('ext4');
    expect(j.summary).toContainEqual({ group: '/big', blocks: 3072, unit: 'data blocks' });
  });
});

describe('damaged metadata', () => {
  // Corrupted metadata blocks (chosen where the annotator found metadata) give answers or
  // one FsError, never another exception, a hang or a huge read.
  it.each(['ext4-512', 'xfs-4k', 'btrfs-512'] as const)(
    '%s: each of 24 corrupted metadata blocks gives answers or an FsError',
    async (name) => {
      const img = await imageAt(name, undefined);
      const good = fs.readFileSync(img);
      const a = await annotatorOf(img);
      const metadata = a.intervals().filter((iv) => !['data', 'unknown'].includes(iv.what.class));
      let seed = 7;
      const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      for (let k = 0; k < 24; k++) {
        const iv = metadata[Math.floor(random() * metadata.length)]!;
        const bytes = Buffer.from(good);
        const at = iv.start + Math.floor(random() * Math.max(1, Math.min(iv.end - iv.start, 65536) - 512));
        for (let i = 0; i < 512; i++) bytes[at + i] = Math.floor(random() * 256);
        try {
          const b = await annotate(memorySource(bytes));
          if (b) await b.what(0, Math.min(bytes.length, 1 << 20));
        } catch (e) {
          expect(e, `${iv.what.text} corrupted at byte ${at}`).toBeInstanceOf(FsError);
        }
      }
    },
  );
});
