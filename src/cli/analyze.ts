// Questions about device state that need no target: diff, blame, digest.

import type { Command } from 'commander';
import { diffPoints } from '../diff.ts';
import { Flag, flagNames } from '../format.ts';
import { pointText, resolvePoint, type Point } from '../range.ts';
import { bytesText, sectorsText } from '../units.ts';
import { parseCount, parsePoint, POINT_HELP, withLog } from './common.ts';
import { stdout } from './output.ts';
import { blameRows, diffWhat, FS_OPTION, piecesJson, summaryText, whatText } from './fs-what.ts';
import { CliError } from '../errors.ts';
import { digestPoints, type DigestAt } from '../commands/digest.ts';

export function parseDigestAt(text: string): DigestAt {
  const every = /^every\s*(\d+)$/.exec(text) ?? /^(\d+)$/.exec(text);
  if (every && Number(every[1]) > 0) return { every: Number(every[1]) };
  const flags: Record<string, number> = { marks: Flag.MARK, mark: Flag.MARK, flush: Flag.FLUSH, fua: Flag.FUA };
  const mask = text.split(',').reduce((m, w) => m | (flags[w.trim().toLowerCase()] ?? NaN), 0);
  if (Number.isNaN(mask) || !mask)
    throw new CliError(`--at takes marks, flush, fua (comma-separated) or every N, not '${text}'`);
  return { flags: mask };
}

export function registerAnalyze(program: Command): void {
  program
    .command('diff')
    .description('device sector ranges whose content differs between two points, with the entries responsible')
    .argument('<log>', 'log file or device')
    .argument('<a>', `first point, the state after that entry: ${POINT_HELP}`, parsePoint)
    .argument('<b>', 'second point, after a', parsePoint)
    .option(...FS_OPTION)
    .option(
      '--json',
      'a JSON array of {sector, nrSectors, entries}; with --fs {fs, ranges (each with fsWhat), summary}',
    )
    .addHelpText(
      'after',
      '\nThe device is taken to be all zeros before the first entry. With --fs, changes are named in the\nstate at b and grouped by file and structure.\n\nExample:\n  $ logwrites diff log.img mark:mkfs mark:fsync --fs',
    )
    .action(async (path: string, a: Point, b: Point, o: { json?: boolean; fs?: boolean }) => {
      await withLog(path, async ({ reader }) => {
        const [ia, ib] = [await resolvePoint(reader, a), await resolvePoint(reader, b)];
        if (ib <= ia) throw new CliError(`${pointText(b)} (entry ${ib}) is not after ${pointText(a)} (entry ${ia})`);
        const ranges = await diffPoints(reader, ia, ib);
        const fs = o.fs ? await diffWhat(reader, ib, ranges) : undefined;
        if (o.json)
          return stdout.json(
            fs
              ? {
                  fs: fs.fs,
                  ranges: ranges.map((r, i) => ({ ...r, fsWhat: piecesJson(fs.ranges[i]!) })),
                  summary: fs.summary,
                }
              : ranges,
          );
        const S = reader.sectorSize;
        ranges.forEach((r, i) =>
          stdout.line(
            `${sectorsText(r.sector, r.nrSectors)} (${bytesText(r.nrSectors * S)}): entries ${r.entries.join(',')}${fs ? `  ${whatText(fs.ranges[i]!)}` : ''}`,
          ),
        );
        stdout.line(
          `${ranges.length} changed ranges, ${ranges.reduce((n, r) => n + r.nrSectors, 0) * S} bytes, between entry ${ia} and entry ${ib}`,
        );
        if (fs)
          stdout.line(
            fs.fs
              ? `${fs.fs} at entry ${ib}: ${summaryText(fs.summary) || 'nothing'}`
              : `no file system recognised at entry ${ib}`,
          );
      });
    });

  program
    .command('blame')
    .description('every entry that wrote or discarded a device sector, in log order')
    .argument('<log>', 'log file or device')
    .argument('<sector>', 'device sector, in log sector units', parseCount)
    .option(...FS_OPTION)
    .option('--json', 'NDJSON, one entry per line')
    .addHelpText(
      'after',
      '\nWith --fs, each line says what the sector was to the file system after that write.\n\nExample:\n  $ logwrites blame log.img 2048 --fs',
    )
    .action(async (path: string, sector: number, o: { json?: boolean; fs?: boolean }) => {
      await withLog(path, async ({ reader }) => {
        let n = 0;
        for await (const { entry: e, fs } of blameRows(reader, sector, o.fs)) {
          n++;
          const what = e.flags & Flag.DISCARD ? 'discard' : 'write';
          if (o.json)
            stdout.json({
              entry: e.index,
              offset: e.offset,
              what,
              sector: e.sector,
              nrSectors: e.nrSectors,
              flags: flagNames(e.flags, e.flagsHigh),
              ...fs?.json,
            });
          else
            stdout.line(
              `${String(e.index).padStart(8)}  ${what.padEnd(7)}  ${sectorsText(e.sector, e.nrSectors)}  ${flagNames(e.flags, e.flagsHigh)}${fs ? `  ${fs.text}` : ''}`,
            );
        }
        if (!o.json && !n) stdout.line(`no entry touches sector ${sector}`);
      });
    });

  program
    .command('digest')
    .description('the device-state fingerprint at chosen points, in one pass, with no target')
    .argument('<log>', 'log file or device')
    .option('--at <points>', 'marks, flush, fua (comma-separated) or "every N"', 'marks')
    .option('--json', 'NDJSON, one point per line')
    .addHelpText(
      'after',
      '\nThe fingerprint is order-independent: two replays that end with the same device content\nhave the same fingerprint.\n\nExample:\n  $ logwrites digest log.img --at fua',
    )
    .action(async (path: string, o: { at: string; json?: boolean }) => {
      const at = parseDigestAt(o.at);
      await withLog(path, async ({ reader }) =>
        digestPoints(reader, at, await (await import('../node/kernels.ts')).loadNodeKernels(), (p) => {
          if (o.json) stdout.json(p);
          else
            stdout.line(
              `${String(p.entry).padStart(8)}  ${p.fingerprint}  ${p.flags}${p.mark !== undefined ? ` ${p.mark}` : ''}`,
            );
        }),
      );
    });
}
