// Looking at a log without replaying it: info, list, marks, find.

import type { Command } from 'commander';
import { Flag, flagNames, parseFlags } from '../format.ts';
import type { Entry, LogReader } from '../reader.ts';
import { bytesText, sectorsText } from '../units.ts';
import { filterEntries, holdsNo, type EntryFilter } from '../range.ts';
import { entryJson, parseCount, parsePoint, POINT_HELP, parseSectorRange, withLog } from './common.ts';
import { stdout } from './output.ts';
import { FS_OPTION, withFs } from './fs-what.ts';
import { CliError, PointNotFound } from '../errors.ts';
import { logInfo, type LogInfo } from '../commands/info.ts';
import { hex32, hex64 } from '../units.ts';

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function printInfo(path: string, i: LogInfo): void {
  const rows: [string, string][] = [
    ['log', `${path} (${bytesText(i.logBytes)}, entries use ${i.usedBytes})`],
    ['sectorsize', String(i.sectorSize)],
    [
      'entries',
      `${i.entries} (super says ${i.nrEntries})${i.trailingEntries ? `, plus ${i.trailingEntries} valid past nr_entries` : ''}`,
    ],
    ['flags', (Object.entries(i.flagCounts) as [string, number][]).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['payload', `${mib(i.payloadBytes)} written, ${mib(i.discardedBytes)} discarded`],
    [
      'device',
      i.highestSector === null
        ? 'nothing written'
        : `highest sector ${i.highestSector} (needs ${bytesText((i.highestSector + 1) * i.sectorSize)})`,
    ],
    ['marks', i.marks ? `${i.marks}, first '${i.firstMark}', last '${i.lastMark}'` : 'none'],
  ];
  for (const [k, v] of rows) stdout.line(`${k.padEnd(11)}${v}`);
}

/** The core's filterEntries, with a missing bound named as the option that gave it. */
export async function* filtered(reader: LogReader, f: EntryFilter, pastEnd = false): AsyncGenerator<Entry> {
  try {
    yield* filterEntries(reader, f, pastEnd);
  } catch (e) {
    throw e instanceof PointNotFound && e.role ? new CliError(`--${e.role} ${e.message}`) : e;
  }
}

function tableRow(e: Entry, S: number): string {
  const what =
    e.mark !== undefined
      ? `mark '${e.mark}'`
      : e.nrSectors
        ? `${sectorsText(e.sector, e.nrSectors)} (${bytesText(e.nrSectors * S)})`
        : '';
  return `${String(e.index).padStart(8)}  ${String(e.offset).padStart(12)}  ${flagNames(e.flags, e.flagsHigh).padEnd(20)}  ${what}`;
}

export function registerInspect(program: Command): void {
  program
    .command('info')
    .description(
      'what a log holds: super, entries (and valid ones past nr_entries), flags, payload, device extent, marks',
    )
    .argument('<log>', 'log file or device')
    .option('--json', 'one JSON object')
    .addHelpText('after', '\nExample:\n  $ logwrites info log.img --json')
    .action(async (path: string, o: { json?: boolean }) => {
      await withLog(path, async ({ reader, source, crash }) => {
        // A cut log is read as its valid prefix; its super and its size are still what they are.
        const i = {
          ...(await logInfo(reader)),
          ...(crash ? { nrEntries: crash.nrEntries, logBytes: source.size } : {}),
        };
        if (o.json) stdout.json(i);
        else printInfo(path, i);
      });
    });

  program
    .command('list')
    .description('one line per entry: index, header byte offset, flags, sectors, mark')
    .argument('<log>', 'log file or device')
    .option('--flags <list>', 'only entries with any of these flags, e.g. FUA,DISCARD', parseFlags)
    .option('--from <point>', `first entry: ${POINT_HELP}`, parsePoint)
    .option('--to <point>', `last entry, inclusive: ${POINT_HELP}`, parsePoint)
    .option(
      '--sectors <A..B>',
      'only entries touching device sectors A to B, inclusive (log sector units)',
      parseSectorRange,
    )
    .option('--checksum', 'add crc32c and xxh64 of each payload')
    .option('--past-end', 'also list valid entries past nr_entries')
    .option(...FS_OPTION)
    .option('--json', 'NDJSON, one entry per line')
    .addHelpText(
      'after',
      '\nExamples:\n  $ logwrites list log.img --flags FUA --from mark:mkfs\n  $ logwrites list log.img --sectors 0..2047 --checksum --json\n  $ logwrites list log.img --fs --from mark:files --to mark:big',
    )
    .action(
      async (
        path: string,
        o: EntryFilter & { checksum?: boolean; json?: boolean; pastEnd?: boolean; fs?: boolean },
      ) => {
        await withLog(
          path,
          async ({ reader }) => {
            // Every point is found (a header walk) before the first row is printed.
            if (o.from || o.to) for await (const _ of filtered(reader, o, o.pastEnd));
            const S = reader.sectorSize;
            const sums = o.checksum ? await checksummer(reader) : undefined;
            if (!o.json)
              stdout.line(
                `${'entry'.padStart(8)}  ${'offset'.padStart(12)}  ${'flags'.padEnd(20)}  what${sums ? '  crc32c xxh64' : ''}${o.fs ? '  fs' : ''}`,
              );
            for await (const { entry: e, fs } of withFs(reader, filtered(reader, o, o.pastEnd), o.fs, o.pastEnd)) {
              const sum = sums ? await sums(e) : undefined;
              if (o.json) stdout.json({ ...entryJson(e), ...sum, ...fs?.json });
              else
                stdout.line(
                  tableRow(e, S) + (sum ? `  ${sum.crc32c} ${sum.xxh64}` : '') + (fs?.text ? `  ${fs.text}` : ''),
                );
            }
          },
          { readsPastEnd: !!o.pastEnd },
        );
      },
    );

  program
    .command('marks')
    .description('every mark with its entry number and header position')
    .argument('<log>', 'log file or device')
    .option('--json', 'one JSON array')
    .addHelpText('after', '\nExample:\n  $ logwrites marks log.img --json')
    .action(async (path: string, o: { json?: boolean }) => {
      await withLog(path, async ({ reader }) => {
        const marks: { mark: string; entry: number; offset: number; sector: number }[] = [];
        for await (const e of filtered(reader, { flags: Flag.MARK })) {
          marks.push({ mark: e.mark ?? '', entry: e.index, offset: e.offset, sector: e.offset / reader.sectorSize });
        }
        if (o.json) stdout.json(marks);
        else for (const m of marks) stdout.line(`${String(m.entry).padStart(8)}  @${m.sector}  ${m.mark}`);
      });
    });

  program
    .command('find')
    .description('the entry number of a mark, the next flush or FUA, or an entry, from a starting point')
    .argument('<log>', 'log file or device')
    .option('--mark <name>', 'the entry of this mark')
    .option('--next-flush', 'the next entry with FLUSH')
    .option('--next-fua', 'the next entry with FUA')
    .option('--entry <n>', 'entry n itself (to check it exists and see it)', parseCount)
    .option('--start-entry <n>', 'search from this entry (inclusive)', parseCount)
    .option('--start-mark <name>', 'search after this mark')
    .option('--json', 'the entry as JSON')
    .addHelpText('after', '\nExample:\n  $ logwrites find log.img --next-fua --start-mark mkfs')
    .action(
      async (
        path: string,
        o: {
          mark?: string;
          nextFlush?: boolean;
          nextFua?: boolean;
          entry?: number;
          startEntry?: number;
          startMark?: string;
          json?: boolean;
        },
      ) => {
        const wanted = [o.mark !== undefined, o.nextFlush, o.nextFua, o.entry !== undefined].filter(Boolean).length;
        if (wanted !== 1) throw new CliError('find needs exactly one of --mark, --next-flush, --next-fua, --entry');
        const target = (e: Entry) =>
          o.mark !== undefined
            ? e.mark === o.mark
            : o.entry !== undefined
              ? e.index === o.entry
              : (e.flags & (o.nextFlush ? Flag.FLUSH : Flag.FUA)) !== 0;
        await withLog(path, async ({ reader }) => {
          let started = o.startMark === undefined;
          for await (const e of reader.entries()) {
            if (!started) {
              started = e.mark === o.startMark;
              continue;
            }
            if (e.index < (o.startEntry ?? 0) || !target(e)) continue;
            if (o.json) stdout.json(entryJson(e));
            else stdout.line(String(e.index));
            return;
          }
          if (!started) throw new CliError(`start mark '${o.startMark}' is not in the log`);
          const from = o.startMark !== undefined ? `after mark '${o.startMark}'` : `from entry ${o.startEntry ?? 0} on`;
          if (o.mark !== undefined)
            throw new CliError(
              `mark '${o.mark}' is not in the log${o.startMark !== undefined || o.startEntry ? ` ${from}` : ''}`,
            );
          if (o.entry !== undefined)
            throw new CliError(`entry ${o.entry} is not in the log (it counts ${reader.nrEntries} entries)`);
          throw new CliError(`no such entry: ${holdsNo(o.nextFlush ? Flag.FLUSH : Flag.FUA, 'the log')} ${from}`);
        });
      },
    );
}

/** crc32c and xxh64 of an entry's payload, with the kernels loaded once. */
async function checksummer(reader: LogReader) {
  const { loadNodeKernels } = await import('../node/kernels.ts');
  const k = await loadNodeKernels();
  return async (e: Entry) => {
    if (!e.payloadLength) return { crc32c: null, xxh64: null };
    let crc = 0;
    const x = k.xxh64Stream();
    for await (const piece of reader.payload(e)) {
      crc = k.crc32c(piece, crc);
      x.update(piece);
    }
    return { crc32c: hex32(crc), xxh64: hex64(x.digest()) };
  };
}
