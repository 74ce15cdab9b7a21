// `logwrites plot LOG -o timeline.svg`: the viewer's timeline as an SVG file, drawn from the
// same scene (src/timeline) as the page, for reports, bug trackers and CI artifacts.

import * as fs from 'node:fs';
import type { Command } from 'commander';
import { decodeSuper } from '../format.ts';
import { indexLog } from '../entry-index/build.ts';
import { pointEntry, type LogIndex } from '../entry-index/log-index.ts';
import { pointText, type Point } from '../range.ts';
import { LAYERS, xExtent, type Layer, type XMode } from '../timeline/density.ts';
import { buildScene, CLASS_COLOURS, LIGHT } from '../timeline/scene.ts';
import { approximateWidth, sceneToSvg } from '../timeline/svg.ts';
import { encodePng } from '../node/plot/png.ts';
import { describePath } from '../node/io/device-info.ts';
import { guardWrite } from '../node/guard/write-guard.ts';
import { entryClasses, STRUCTURE_CLASSES } from '../fs/classes.ts';
import { parseCount, parsePoint, withLog } from './common.ts';
import { CliError } from '../errors.ts';

interface PlotOptions {
  output: string;
  width: number;
  height: number;
  x: XMode;
  from?: Point;
  to?: Point;
  hide?: string;
  colour: 'flag' | 'structure';
  force?: boolean;
}

function entryOf(index: LogIndex, p: Point): number {
  const i = pointEntry(index, p);
  if (i < 0 || i >= index.count) throw new CliError(`${pointText(p)} is not in the log (entries 0..${index.count - 1})`);
  return i;
}

function parseLayers(list: string): Set<Layer> {
  const names = list.split(',').map((w) => w.trim().toLowerCase().replace(/^none$/, 'write'));
  const bad = names.find((n) => !(LAYERS as readonly string[]).includes(n));
  if (bad !== undefined) throw new CliError(`--hide takes ${LAYERS.join(', ')} (write is flags NONE), not '${bad}'`);
  return new Set(names as Layer[]);
}

/**
 * The plot never replaces the log it draws; past that, the write guard's rules (a device or file
 * the log is on, a mounted one, one a running serve holds) and, since an SVG over a log is as
 * destructive as any write, an existing file that is a dm-log-writes log, all unless --force.
 */
function refuseLogOverwrite(output: string, log: string, force: boolean): void {
  if (!fs.existsSync(output)) return;
  const [a, b] = [fs.statSync(output), fs.statSync(log)];
  if (a.dev === b.dev && a.ino === b.ino) throw new CliError(`refusing to write the plot over the log itself (${output})`);
  guardWrite('write the plot', { path: output, keep: [{ name: 'the log', info: describePath(log)! }] }, force);
  if (force) return;
  const head = Buffer.alloc(4096);
  const fd = fs.openSync(output, 'r');
  try {
    const n = fs.readSync(fd, head, 0, head.length, 0);
    decodeSuper(head.subarray(0, n));
  } catch {
    return;
  } finally {
    fs.closeSync(fd);
  }
  throw new CliError(`refusing to write over ${output}: it holds a dm-log-writes log (--force to do it anyway)`);
}

/** The classes and their colours, for the caption (the SVG has no legend of its own). */
const classLegend = () => STRUCTURE_CLASSES.map((k) => `${k} ${CLASS_COLOURS[k]}`).join(', ');

export function registerPlot(program: Command): void {
  program
    .command('plot')
    .description('draw the timeline (entries by device sector, binned per pixel, with flushes, epochs and marks) as an SVG file')
    .argument('<log>', 'log file')
    .requiredOption('-o, --output <file>', 'SVG file to write')
    .option('--width <px>', 'picture width', parseCount, 1200)
    .option('--height <px>', 'picture height (the notes below it add a few lines)', parseCount, 480)
    .option('--x <mode>', 'x axis: entry (entry number) or bytes (log offset)', (v) => {
      if (v !== 'entry' && v !== 'bytes') throw new CliError(`--x takes entry or bytes, not '${v}'`);
      return v;
    }, 'entry')
    .option('--from <point>', 'first entry shown (N or mark:<name>)', parsePoint)
    .option('--to <point>', 'last entry shown (N or mark:<name>)', parsePoint)
    .option('--hide <layers>', `layers to leave out, comma-separated: ${LAYERS.join(', ')}`)
    .option('--colour <by>', 'colour entries by flag, or by structure (what they wrote to the ext4, xfs or btrfs on the device)', (v) => {
      if (v !== 'flag' && v !== 'structure') throw new CliError(`--colour takes flag or structure, not '${v}'`);
      return v;
    }, 'flag')
    .option('--force', 'write over an existing file that holds a log')
    .addHelpText('after', '\nExample:\n  $ logwrites plot log.img -o timeline.svg --from mark:files --to mark:delete\n\nSVG only: the density layer is embedded as a PNG image, labels stay vector text.')
    .action(async (log: string, o: PlotOptions) => {
      if (!/\.svg$/i.test(o.output)) throw new CliError(`${o.output}: plot writes SVG only (name the file .svg; convert with rsvg-convert or a browser for PNG)`);
      if (o.width < 200 || o.height < 120) throw new CliError('--width must be at least 200 and --height at least 120');
      const hidden = o.hide ? parseLayers(o.hide) : new Set<Layer>();
      refuseLogOverwrite(o.output, log, !!o.force);
      await withLog(log, async ({ reader }) => {
        const name = log.split('/').pop() ?? log;
        const { index, summary } = await indexLog(reader, { name, chunkSize: 8 << 20 });
        const [lo, hi] = xExtent(index, o.x, summary.bytesIndexed);
        const first = o.from ? entryOf(index, o.from) : 0;
        const last = o.to ? entryOf(index, o.to) : index.count - 1;
        if (last < first) throw new CliError(`--to (entry ${last}) is before --from (entry ${first})`);
        const edge = (i: number) => (o.x === 'entry' ? i : (index.offset[i] ?? summary.bytesIndexed));
        const window = { mode: o.x, x0: o.from ? edge(first) : lo, x1: o.to ? edge(last + 1) : hi, y0: 0, y1: Math.max(1, summary.deviceSectors) };
        const classes = o.colour === 'structure' ? await entryClasses(reader, index.count) : undefined;
        const byClass = classes?.fs ? { classes: classes.classes, hidden: new Set<never>() } : undefined;
        const scene = buildScene({ index, logEnd: summary.bytesIndexed, rows: null, window, width: o.width, height: o.height, scale: 1, palette: LIGHT, measure: approximateWidth, hidden, ...(byClass && { byClass }) });
        const colourNotes = classes ? [classes.fs ? `coloured by structure (${classes.fs}): ${classLegend()}` : 'no file system recognised on the device: coloured by flag'] : [];
        const warnings = summary.warnings.map((w) => `warning: ${w.entry === undefined ? '' : `entry ${w.entry} `}at byte ${w.offset}: ${w.message}`);
        const title = `${name}: entries ${first}–${last} of ${index.count}, sectorsize ${index.sectorSize}, ${index.marks.length} marks`;
        const svg = sceneToSvg({ ...scene, notes: [...colourNotes, ...scene.notes, ...warnings] }, LIGHT, encodePng, title);
        fs.writeFileSync(o.output, svg);
        process.stdout.write(`wrote ${o.output}: ${title}; ${scene.marksShown} of ${scene.marksInView} mark labels shown\n`);
      });
    });
}
