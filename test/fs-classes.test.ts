// The timeline's "by structure" colouring: every entry's class is the class its file-system
// answers (src/fs/log-state.ts) give to most of its bytes, on kernel-written ext4 and xfs logs,
// and the scene paints each entry in its class's colour (hidden classes neither drawn nor picked).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogReader } from '../src/reader.ts';
import { indexLog } from '../src/entry-index/build.ts';
import { openSource } from '../src/node/io/file.ts';
import { annotateEntries } from '../src/fs/log-state.ts';
import { entryClasses, NO_CLASS, STRUCTURE_CLASSES } from '../src/fs/classes.ts';
import type { WhatClass } from '../src/fs/what.ts';
import { buildScene, CLASS_COLOURS, classColouring, LIGHT } from '../src/timeline/scene.ts';
import { pick, type Layer } from '../src/timeline/density.ts';
import { approximateWidth } from '../src/timeline/svg.ts';
import { kernelLog, ROOT, scratchDir } from './support/fixtures.ts';

const rgb = (p: number) => ((p & 0xff) << 16) | (p & 0xff00) | ((p >> 16) & 0xff);

describe.each([
  ['ext4-512', 'ext4', ['superblock', 'group', 'bitmap', 'inodes', 'journal', 'directory', 'data']],
  ['xfs-4k', 'xfs', ['superblock', 'group', 'inodes', 'journal', 'btree', 'data']],
] as const)('%s structure classes', (name, fsName, expected) => {
  it('each entry has the class covering most of its bytes in the fs answers, and the scene paints it', async () => {
    const source = openSource(kernelLog(name));
    try {
      const reader = await LogReader.open(source);
      const { index, summary } = await indexLog(reader, { name });
      const { fs, classes } = await entryClasses(reader, index.count);
      expect(fs).toBe(fsName);
      const wanted = [];
      for await (const e of reader.entries({ pastEnd: true })) if (e.nrSectors) wanted.push(e);
      let checked = 0;
      for await (const a of annotateEntries(reader, wanted, { pastEnd: true })) {
        const bytes = new Map<WhatClass, number>();
        for (const p of a.pieces) bytes.set(p.what.class, (bytes.get(p.what.class) ?? 0) + p.end - p.start);
        const most = Math.max(...bytes.values());
        const got = STRUCTURE_CLASSES[classes[a.entry.index]!]!;
        expect(bytes.get(got), `entry ${a.entry.index}: ${got} covers the most bytes`).toBe(most);
        checked++;
      }
      expect(checked).toBe(wanted.length);
      for (let i = 0; i < index.count; i++) if (!index.nrSectors[i]) expect(classes[i]).toBe(NO_CLASS);
      const seen = new Set([...classes].filter((c) => c !== NO_CLASS).map((c) => STRUCTURE_CLASSES[c]));
      for (const k of expected) expect(seen, `some entry is ${k}`).toContain(k);

      // One entry of each seen class fills a window of its own: the plot is its class's colour,
      // and nothing where that class is hidden.
      for (const k of seen) {
        const i = classes.indexOf(STRUCTURE_CLASSES.indexOf(k!));
        const window = {
          mode: 'entry' as const,
          x0: i,
          x1: i + 1,
          y0: index.sector[i]!,
          y1: index.sector[i]! + index.nrSectors[i]!,
        };
        const input = {
          index,
          logEnd: summary.bytesIndexed,
          rows: null,
          window,
          width: 300,
          height: 200,
          scale: 1,
          palette: LIGHT,
          measure: approximateWidth,
        };
        const scene = buildScene({ ...input, byClass: { classes, hidden: new Set() } });
        const d = scene.density;
        const mid = d.pixels[Math.floor(d.height / 2) * d.width + Math.floor(d.width / 2)]!;
        expect(rgb(mid), `entry ${i} (${k})`).toBe(parseInt(CLASS_COLOURS[k!].slice(1), 16));
        expect(buildScene({ ...input, byClass: { classes, hidden: new Set([k!]) } }).density.max).toBe(0);
        const at = [scene.view, scene.plot.width / 2, scene.plot.height / 2, 4, new Set<Layer>(), undefined] as const;
        expect(pick(index, null, ...at, classColouring({ classes, hidden: new Set() }))).toBe(i);
        expect(pick(index, null, ...at, classColouring({ classes, hidden: new Set([k!]) }))).toBe(-1);
      }
    } finally {
      source.close();
    }
  });
});

describe('logwrites plot --colour structure', () => {
  const dir = scratchDir('fs-classes');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const plot = (log: string) => {
    const out = path.join(dir, 'p.svg');
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/logwrites.js'), 'plot', log, '-o', out, '--colour', 'structure'],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    return fs.readFileSync(out, 'utf8');
  };
  it('names the file system and the class colours in the caption, or says it stays by flag', () => {
    const svg = plot(kernelLog('ext4-512'));
    expect(svg).toContain(`coloured by structure (ext4): superblock ${CLASS_COLOURS.superblock}`);
    expect(plot(path.join(ROOT, 'test/fixtures/regressions/write-far.log'))).toContain(
      'no file system recognised on the device: coloured by flag',
    );
  });
});
