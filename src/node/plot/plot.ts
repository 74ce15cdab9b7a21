// `logwrites plot`'s drawing: the viewer's timeline as an SVG, from the same scene (src/timeline)
// as the page, and the check that the SVG is not written over a log.

import * as fs from 'node:fs';
import { decodeSuper } from '../../format.ts';
import { indexLog } from '../../entry-index/build.ts';
import { pointEntry, type LogIndex } from '../../entry-index/log-index.ts';
import { pointText, type Point } from '../../range.ts';
import type { LogReader } from '../../reader.ts';
import { xExtent, type Layer, type XMode } from '../../timeline/density.ts';
import { buildScene, CLASS_COLOURS, LIGHT } from '../../timeline/scene.ts';
import { approximateWidth, sceneToSvg } from '../../timeline/svg.ts';
import { entryClasses, STRUCTURE_CLASSES } from '../../fs/classes.ts';
import { describePath } from '../io/device-info.ts';
import { guardWrite } from '../guard/write-guard.ts';
import { encodePng } from './png.ts';
import { PlotError } from '../../errors.ts';

export interface PlotOptions {
  width: number;
  height: number;
  x: XMode;
  from?: Point;
  to?: Point;
  hidden: ReadonlySet<Layer>;
  colour: 'flag' | 'structure';
}

export interface Plot {
  readonly svg: string;
  readonly title: string;
  readonly marksShown: number;
  readonly marksInView: number;
}

function entryOf(index: LogIndex, p: Point): number {
  const i = pointEntry(index, p);
  if (i < 0 || i >= index.count)
    throw new PlotError(`${pointText(p)} is not in the log (entries 0..${index.count - 1})`);
  return i;
}

/**
 * The plot never replaces the log it draws; past that, the write guard's rules (a device or file
 * the log is on, a mounted one, one a running serve holds) and, since an SVG over a log is as
 * destructive as any write, an existing file that is a dm-log-writes log, all unless --force.
 */
export function refuseLogOverwrite(output: string, log: string, force: boolean): void {
  if (!fs.existsSync(output)) return;
  const [a, b] = [fs.statSync(output), fs.statSync(log)];
  if (a.dev === b.dev && a.ino === b.ino)
    throw new PlotError(`refusing to write the plot over the log itself (${output})`);
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
  throw new PlotError(`refusing to write over ${output}: it holds a dm-log-writes log (--force to do it anyway)`);
}

/** The classes and their colours, for the caption (the SVG has no legend of its own). */
const classLegend = () => STRUCTURE_CLASSES.map((k) => `${k} ${CLASS_COLOURS[k]}`).join(', ');

/** Draw the log `reader` (called `name` in the title) as an SVG. */
export async function plotLog(reader: LogReader, name: string, o: PlotOptions): Promise<Plot> {
  const { index, summary } = await indexLog(reader, { name, chunkSize: 8 << 20 });
  const [lo, hi] = xExtent(index, o.x, summary.bytesIndexed);
  const first = o.from ? entryOf(index, o.from) : 0;
  const last = o.to ? entryOf(index, o.to) : index.count - 1;
  if (last < first) throw new PlotError(`--to (entry ${last}) is before --from (entry ${first})`);
  const edge = (i: number) => (o.x === 'entry' ? i : (index.offset[i] ?? summary.bytesIndexed));
  const window = {
    mode: o.x,
    x0: o.from ? edge(first) : lo,
    x1: o.to ? edge(last + 1) : hi,
    y0: 0,
    y1: Math.max(1, summary.deviceSectors),
  };
  const classes = o.colour === 'structure' ? await entryClasses(reader, index.count) : undefined;
  const byClass = classes?.fs ? { classes: classes.classes, hidden: new Set<never>() } : undefined;
  const scene = buildScene({
    index,
    logEnd: summary.bytesIndexed,
    rows: null,
    window,
    width: o.width,
    height: o.height,
    scale: 1,
    palette: LIGHT,
    measure: approximateWidth,
    hidden: o.hidden,
    ...(byClass && { byClass }),
  });
  const colourNotes = classes
    ? [
        classes.fs
          ? `coloured by structure (${classes.fs}): ${classLegend()}`
          : 'no file system recognised on the device: coloured by flag',
      ]
    : [];
  const warnings = summary.warnings.map(
    (w) => `warning: ${w.entry === undefined ? '' : `entry ${w.entry} `}at byte ${w.offset}: ${w.message}`,
  );
  const title = `${name}: entries ${first}–${last} of ${index.count}, sectorsize ${index.sectorSize}, ${index.marks.length} marks`;
  const svg = sceneToSvg({ ...scene, notes: [...colourNotes, ...scene.notes, ...warnings] }, LIGHT, encodePng, title);
  return { svg, title, marksShown: scene.marksShown, marksInView: scene.marksInView };
}
