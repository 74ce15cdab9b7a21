// `logwrites plot LOG -o timeline.svg`: the viewer's timeline as an SVG file, drawn from the
// same scene (src/timeline) as the page, for reports, bug trackers and CI artifacts.

import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { Point } from '../range.ts';
import { LAYERS, type Layer, type XMode } from '../timeline/density.ts';
import { plotLog, refuseLogOverwrite } from '../node/plot/plot.ts';
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

function parseLayers(list: string): Set<Layer> {
  const names = list.split(',').map((w) =>
    w
      .trim()
      .toLowerCase()
      .replace(/^none$/, 'write'),
  );
  const bad = names.find((n) => !(LAYERS as readonly string[]).includes(n));
  if (bad !== undefined) throw new CliError(`--hide takes ${LAYERS.join(', ')} (write is flags NONE), not '${bad}'`);
  return new Set(names as Layer[]);
}

export function registerPlot(program: Command): void {
  program
    .command('plot')
    .description(
      'draw the timeline (entries by device sector, binned per pixel, with flushes, epochs and marks) as an SVG file',
    )
    .argument('<log>', 'log file')
    .requiredOption('-o, --output <file>', 'SVG file to write')
    .option('--width <px>', 'picture width', parseCount, 1200)
    .option('--height <px>', 'picture height (the notes below it add a few lines)', parseCount, 480)
    .option(
      '--x <mode>',
      'x axis: entry (entry number) or bytes (log offset)',
      (v) => {
        if (v !== 'entry' && v !== 'bytes') throw new CliError(`--x takes entry or bytes, not '${v}'`);
        return v;
      },
      'entry',
    )
    .option('--from <point>', 'first entry shown (N or mark:<name>)', parsePoint)
    .option('--to <point>', 'last entry shown (N or mark:<name>)', parsePoint)
    .option('--hide <layers>', `layers to leave out, comma-separated: ${LAYERS.join(', ')}`)
    .option(
      '--colour <by>',
      'colour entries by flag, or by structure (what they wrote to the ext4, xfs or btrfs on the device)',
      (v) => {
        if (v !== 'flag' && v !== 'structure') throw new CliError(`--colour takes flag or structure, not '${v}'`);
        return v;
      },
      'flag',
    )
    .option('--force', 'write over an existing file that holds a log')
    .addHelpText(
      'after',
      '\nExample:\n  $ logwrites plot log.img -o timeline.svg --from mark:files --to mark:delete\n\nSVG only: the density layer is embedded as a PNG image, labels stay vector text.',
    )
    .action(async (log: string, o: PlotOptions) => {
      if (!/\.svg$/i.test(o.output))
        throw new CliError(
          `${o.output}: plot writes SVG only (name the file .svg; convert with rsvg-convert or a browser for PNG)`,
        );
      if (o.width < 200 || o.height < 120) throw new CliError('--width must be at least 200 and --height at least 120');
      const hidden = o.hide ? parseLayers(o.hide) : new Set<Layer>();
      refuseLogOverwrite(o.output, log, !!o.force);
      await withLog(log, async ({ reader }) => {
        const name = log.split('/').pop() ?? log;
        const plot = await plotLog(reader, name, {
          width: o.width,
          height: o.height,
          x: o.x,
          ...(o.from && { from: o.from }),
          ...(o.to && { to: o.to }),
          hidden,
          colour: o.colour,
        });
        fs.writeFileSync(o.output, plot.svg);
        process.stdout.write(
          `wrote ${o.output}: ${plot.title}; ${plot.marksShown} of ${plot.marksInView} mark labels shown\n`,
        );
      });
    });
}
