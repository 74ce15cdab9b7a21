// The timeline without a browser: binning entries into pixels, the scene's layout (labels that
// never overlap, rulers, epochs, entries past nr_entries) on every kernel fixture at the page's
// and the narrow layout's sizes, steps between marks against an independent reading, and
// `logwrites plot`, whose SVG comes from the same scene.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, encodeSuper, Flag } from '../src/format.ts';
import { LogReader, memorySource } from '../src/reader.ts';
import { indexLog } from '../src/entry-index/build.ts';
import type { LogIndex, Summary } from '../src/entry-index/log-index.ts';
import { markSteps, stepStats } from '../src/entry-index/steps.ts';
import { filterRows } from '../src/browser/rows.ts';
import { bin, pick, type LayerColours, type PlotView } from '../src/timeline/density.ts';
import { buildScene, LIGHT, niceStep, type Scene, type SceneInput, type Shape } from '../src/timeline/scene.ts';
import { approximateWidth } from '../src/timeline/svg.ts';
import { openSource } from '../src/node/io/file.ts';
import { KERNEL_FIXTURES, kernelLog, ROOT, scratchDir } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';

const dir = scratchDir('timeline');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function indexed(file: string): Promise<{ index: LogIndex; summary: Summary }> {
  const source = openSource(file);
  try {
    return await indexLog(await LogReader.open(source), { name: path.basename(file) });
  } finally {
    source.close();
  }
}

const colours: LayerColours = { write: 0x0000ff, fua: 0x00ff00, metadata: 0xff00ff, discard: 0xff0000 };
/** The RGB of a density pixel (0xAABBGGRR), as 0xRRGGBB. */
const rgb = (p: number) => ((p & 0xff) << 16) | (p & 0xff00) | ((p >> 16) & 0xff);

describe('density', () => {
  const S = 512;
  const synthetic: LogIndex = {
    count: 4,
    sectorSize: S,
    nrEntries: 4,
    offset: Float64Array.from([512, 1536, 2048, 3072]),
    sector: Float64Array.from([0, 50, 0, 90]),
    nrSectors: Float64Array.from([10, 10, 0, 10]),
    flags: Uint32Array.from([0, Flag.FUA, Flag.FLUSH, Flag.DISCARD]),
    marks: [],
    highFlags: new Map(),
  };
  const v: PlotView = { mode: 'entry', x0: 0, x1: 4, y0: 0, y1: 100, width: 40, height: 100 };

  it('bins each write at its entry and sectors, coloured by its strongest flag', () => {
    const d = bin(synthetic, null, v, colours);
    const at = (x: number, y: number) => d.pixels[y * v.width + x]!;
    expect(rgb(at(0, 95))).toBe(colours.write); // sectors 0..9 are the bottom ten rows
    expect(rgb(at(8, 90))).toBe(colours.write);
    expect(at(0, 89)).toBe(0);
    expect(rgb(at(12, 45))).toBe(colours.fua);
    expect(at(20, 50)).toBe(0); // a flush has no sectors
    expect(rgb(at(35, 5))).toBe(colours.discard);
    expect(d.max).toBe(1);
    expect(at(0, 95) >>> 24).toBe(255); // one entry per cell: full strength
    expect(pick(synthetic, null, v, 13, 45)).toBe(1);
    expect(pick(synthetic, null, v, 3, 95)).toBe(0);
    expect(pick(synthetic, null, v, 13, 45, 4, new Set(['fua']))).toBe(-1);
  });

  it('leaves out hidden layers and filtered rows, and draws entries in bytes mode as wide as their share of the log', () => {
    const d = bin(synthetic, null, v, colours, new Set(['write', 'discard']));
    expect(d.pixels[95 * v.width]).toBe(0);
    expect(rgb(d.pixels[45 * v.width + 12]!)).toBe(colours.fua);
    const bytes: PlotView = { ...v, mode: 'bytes', x0: 512, x1: 4096 };
    const b = bin(synthetic, filterRows(synthetic, { flags: Flag.FUA }), bytes, colours);
    expect(rgb(b.pixels[45 * v.width + Math.floor((1536 - 512) * (40 / 3584))]!)).toBe(colours.fua);
    expect(b.pixels[95 * v.width]).toBe(0);
  });

  it('shades by how many entries share a cell: a hundred rewrites of one sector outweigh one write', () => {
    const n = 101;
    const many: LogIndex = {
      ...synthetic,
      count: n,
      nrEntries: n,
      offset: Float64Array.from({ length: n }, (_, i) => 512 + i * 1024),
      sector: Float64Array.from({ length: n }, (_, i) => (i === 0 ? 80 : 0)),
      nrSectors: new Float64Array(n).fill(1),
      flags: new Uint32Array(n),
    };
    const d = bin(many, null, { mode: 'entry', x0: 0, x1: n, y0: 0, y1: 100, width: 1, height: 100 }, colours);
    expect(d.max).toBe(100);
    const alpha = (y: number) => d.pixels[y]! >>> 24;
    expect(alpha(99)).toBe(255);
    expect(alpha(19)).toBeGreaterThan(0);
    expect(alpha(19)).toBeLessThan(alpha(99));
  });

  it('bins a 262,144-entry log of scattered writes into every column of a 1200 x 400 plot (bench/viewer times it in the page)', () => {
    const n = 262144;
    const big: LogIndex = {
      count: n,
      sectorSize: S,
      nrEntries: n,
      offset: Float64Array.from({ length: n }, (_, i) => 512 + i * 4608),
      sector: Float64Array.from({ length: n }, (_, i) => ((i * 7919) % n) * 8),
      nrSectors: new Float64Array(n).fill(8),
      flags: Uint32Array.from({ length: n }, (_, i) => (i % 64 === 63 ? Flag.FUA : 0)),
      marks: [],
      highFlags: new Map(),
    };
    const d = bin(big, null, { mode: 'entry', x0: 0, x1: n, y0: 0, y1: n * 8, width: 1200, height: 400 }, colours);
    const columns = new Set<number>();
    d.pixels.forEach((p, c) => p && columns.add(c % 1200));
    expect(columns.size).toBe(1200);
    expect(d.pixels.some((p) => rgb(p) === colours.write)).toBe(true);
  });
});

const texts = (sc: Scene, role?: string) =>
  sc.shapes.filter((s): s is Extract<Shape, { kind: 'text' }> => s.kind === 'text' && (!role || s.role === role));
const box = (t: Extract<Shape, { kind: 'text' }>) => {
  const w = approximateWidth(t.text, t.size);
  const left = t.align === 'left' ? t.x : t.align === 'right' ? t.x - w : t.x - w / 2;
  return { left, right: left + w, top: t.y, bottom: t.y + t.size };
};
const overlap = (a: ReturnType<typeof box>, b: ReturnType<typeof box>) =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

function scene(
  index: LogIndex,
  summary: Summary,
  width: number,
  height: number,
  extra: Partial<SceneInput> = {},
): Scene {
  return buildScene({
    index,
    logEnd: summary.bytesIndexed,
    rows: null,
    window: { mode: 'entry', x0: 0, x1: index.count, y0: 0, y1: summary.deviceSectors },
    width,
    height,
    scale: 1,
    palette: LIGHT,
    measure: approximateWidth,
    ...extra,
  });
}

describe.each(KERNEL_FIXTURES)('the timeline scene of %s', (name) => {
  let index: LogIndex;
  let summary: Summary;
  beforeAll(async () => {
    ({ index, summary } = await indexed(kernelLog(name)));
  });

  // 1280x800 gives the page's plot about 574 x 272; 420 px about 356 x 272; logwrites plot 1200 x 480.
  it.each([
    [574, 272],
    [356, 272],
    [1200, 480],
  ])(
    'at %i x %i: no two labels overlap, hidden mark labels are counted, both rulers have ticks, the last entry is named',
    (width, height) => {
      const sc = scene(index, summary, width, height);
      const all = texts(sc).map(box);
      for (let i = 0; i < all.length; i++)
        for (let j = i + 1; j < all.length; j++)
          expect(overlap(all[i]!, all[j]!), `${texts(sc)[i]!.text} / ${texts(sc)[j]!.text}`).toBe(false);
      const marks = texts(sc, 'mark');
      expect(sc.marksInView).toBe(index.marks.length);
      expect(marks.length).toBe(sc.marksShown);
      if (sc.marksShown < sc.marksInView)
        expect(sc.notes.join('\n')).toContain(
          `${sc.marksInView - sc.marksShown} of ${sc.marksInView} mark labels hidden`,
        );
      else expect(sc.notes.join('\n')).not.toContain('hidden');
      // Each label ends at its mark's rule: left of the line, over the step the mark ends.
      for (const t of marks) {
        const m = index.marks.find((k) => k.text === t.text)!;
        const x = sc.plot.left + (m.index + 0.5) * (sc.plot.width / index.count);
        expect(Math.abs(box(t).right - x)).toBeLessThan(4);
      }
      const ruler = texts(sc, 'muted').filter((t) => /^[\d,]+$/.test(t.text));
      expect(ruler.filter((t) => t.align === 'right').length).toBeGreaterThanOrEqual(2); // sectors
      expect(ruler.filter((t) => t.align === 'center').length).toBeGreaterThanOrEqual(2); // entries
      expect(texts(sc, 'ink').map((t) => t.text)).toContain(`last ${(index.count - 1).toLocaleString('en-US')}`);
      expect(sc.notes.some((n) => n.startsWith('durable prefix'))).toBe(true);
    },
  );

  it('draws flushes across the plot only where they have room; dense ones are ticks in the strip', () => {
    const sc = scene(index, summary, 574, 272);
    const lines = sc.shapes.filter((s) => s.kind === 'line' && s.role === 'flush') as Extract<
      Shape,
      { kind: 'line' }
    >[];
    const across = lines.filter((l) => l.y2 - l.y1 > 20).map((l) => l.x1);
    const ticks = lines.filter((l) => l.y2 - l.y1 <= 20);
    expect(ticks.length).toBeGreaterThan(0);
    const sorted = [...across].sort((a, b) => a - b);
    for (let k = 1; k < sorted.length; k++) expect(sorted[k]! - sorted[k - 1]!).toBeGreaterThanOrEqual(7);
    if (name === 'ext4-fsync-many') expect(across.length).toBeLessThan(20); // was 424 full-height lines
  });
});

describe('the scene of a log with entries past nr_entries', () => {
  it('shades them, says so, and shows the durable prefix as of the selected entry', async () => {
    const S = 512;
    const parts: Uint8Array[] = [encodeSuper({ nrEntries: 6, sectorSize: S })];
    for (let i = 0; i < 10; i++)
      parts.push(
        encodeHeader({ sector: i * 8, nrSectors: 8, flags: i === 3 ? Flag.FLUSH : 0 }, S),
        new Uint8Array(8 * S),
      );
    const { index, summary } = await indexLog(await LogReader.open(memorySource(Buffer.concat(parts))), { name: 't' });
    const sc = scene(index, summary, 600, 300, { selected: 5 });
    expect(sc.shapes.some((s) => s.kind === 'rect' && s.role === 'trailing')).toBe(true);
    expect(texts(sc, 'trailing').map((t) => t.text)).toEqual(['past nr_entries']);
    expect(sc.notes).toContain('entries 6–9 are past nr_entries (6): a replay stops before them');
    expect(sc.notes).toContain('durable prefix as of entry 5: entries 0–3 (the FLUSH at 3)');
    expect(scene(index, summary, 600, 300, { selected: 2 }).notes).toContain(
      'no FLUSH at or before entry 2: nothing is durable yet but FUA writes',
    );
  });

  it('picks tick steps of 1, 2 and 5 times a power of ten', () => {
    expect([niceStep(282, 6, 1), niceStep(262144, 8, 1), niceStep(10, 20, 1), niceStep(131072, 7)]).toEqual([
      50, 50000, 1, 20000,
    ]);
  });
});

describe('steps between marks', () => {
  it.each(KERNEL_FIXTURES)(
    '%s: per mark, what the entries since the previous mark did, as an independent count says',
    async (name) => {
      const { index } = await indexed(kernelLog(name));
      const { entries, sectorSize } = oracleRead(kernelLog(name));
      const steps = markSteps(index);
      const marks = entries.filter((e) => e.mark !== undefined);
      expect(steps.filter((s) => s.mark).map((s) => s.mark!.text)).toEqual(marks.map((e) => e.mark));
      let from = 0;
      for (const st of steps) {
        const to = st.mark ? st.mark.index : entries.length - 1;
        const range = entries.slice(from, to + 1);
        const touched = new Set<number>();
        for (const e of range) for (let s = e.sector; s < e.sector + e.nrSectors; s++) touched.add(s);
        expect(st).toMatchObject({
          from,
          to,
          entries: range.length,
          writes: range.filter((e) => !(e.flags & Flag.DISCARD) && e.nrSectors > 0).length,
          bytes: range.reduce((n, e) => n + (e.payload?.length ?? 0), 0),
          flushes: range.filter((e) => e.flags & Flag.FLUSH).length,
          fuas: range.filter((e) => e.flags & Flag.FUA).length,
          discards: range.filter((e) => e.flags & Flag.DISCARD).length,
          discardedBytes: range.filter((e) => e.flags & Flag.DISCARD).reduce((n, e) => n + e.nrSectors * sectorSize, 0),
          sectorsTouched: touched.size,
          pastEnd: 0,
        });
        from = to + 1;
      }
      expect(from).toBe(entries.length);
    },
  );

  it('counts entries past nr_entries and clips a range to the log', async () => {
    const { index } = await indexed(kernelLog('ext4-512'));
    const cut = { ...index, nrEntries: 200 };
    expect(stepStats(cut, 150, 10_000)).toMatchObject({ from: 150, to: index.count - 1, pastEnd: index.count - 200 });
    expect(stepStats(cut, 0, 199).pastEnd).toBe(0);
    expect(stepStats(index, 5, 4).entries).toBe(0);
  });
});

describe('logwrites plot', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), 'plot', ...args], { encoding: 'utf8' });

  it.each(KERNEL_FIXTURES)(
    '%s: an SVG with every mark label the layout shows, a PNG density layer and the notes',
    async (name) => {
      const out = path.join(dir, `${name}.svg`);
      const r = cli(kernelLog(name), '-o', out);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const { index, summary } = await indexed(kernelLog(name));
      const sc = scene(index, summary, 1200, 480);
      expect(r.stdout).toContain(`${sc.marksShown} of ${sc.marksInView} mark labels shown`);
      const svg = fs.readFileSync(out, 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      for (const t of texts(sc, 'mark')) expect(svg).toContain(`>${t.text}</text>`);
      const png = Buffer.from(/href="data:image\/png;base64,([^"]+)"/.exec(svg)![1]!, 'base64');
      expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([sc.plot.width, sc.plot.height]);
      // The pixels inflate back to the density the scene computed.
      const idat = png.subarray(33 + 8, 33 + 8 + png.readUInt32BE(33));
      const raw = zlib.inflateSync(idat);
      const row = sc.plot.width * 4 + 1;
      const px = Buffer.from(sc.density.pixels.buffer);
      for (const y of [0, Math.floor(sc.plot.height / 2), sc.plot.height - 1])
        expect(raw.subarray(y * row + 1, (y + 1) * row).equals(px.subarray(y * (row - 1), (y + 1) * (row - 1)))).toBe(
          true,
        );
      expect(svg).toContain('durable prefix');
    },
  );

  it('zooms to a range of marks, hides layers, and refuses what it cannot do', () => {
    const log = kernelLog('ext4-512');
    const out = path.join(dir, 'range.svg');
    expect(cli(log, '-o', out, '--from', 'mark:files', '--to', 'mark:delete', '--hide', 'flush,NONE').stdout).toMatch(
      /entries 111–201 of 282/,
    );
    expect(fs.readFileSync(out, 'utf8')).not.toContain('durable prefix');
    const png = cli(log, '-o', path.join(dir, 'x.png'));
    expect([png.status, png.stderr]).toEqual([1, expect.stringMatching(/^logwrites: .*x\.png: plot writes SVG only/)]);
    expect(cli(log, '-o', out, '--hide', 'bogus').stderr).toMatch(
      /--hide takes write, fua, metadata, discard, flush, mark/,
    );
    expect(cli(log, '-o', out, '--from', 'mark:nope').stderr).toMatch(/mark:nope is not in the log/);
    // An existing log is not written over: not the log itself, nor another without --force.
    const other = path.join(dir, 'other.svg');
    fs.copyFileSync(log, other);
    const refused = cli(log, '-o', other);
    expect([refused.status, refused.stderr.trim()]).toEqual([
      1,
      `logwrites: refusing to write over ${other}: it holds a dm-log-writes log (--force to do it anyway)`,
    ]);
    expect(fs.readFileSync(other).equals(fs.readFileSync(log))).toBe(true);
    expect(cli(other, '-o', other, '--force').stderr).toMatch(/refusing to write the plot over the log itself/);
    expect(cli(log, '-o', other, '--force').status).toBe(0);
  });
});
