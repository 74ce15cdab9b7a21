// `logwrites recover`: report the entries a crashed log holds past (or short of) its super's
// count, and with --write make the super count exactly the valid ones, keeping the old super.

import type { Command } from 'commander';
import { Flag, flagNames } from '../format.ts';
import type { Entry } from '../reader.ts';
import { sectorsText } from '../units.ts';
import { recover, type Recovery } from '../recover.ts';
import { rewriteCount } from '../node/recover/rewrite.ts';
import { guardWrite } from '../node/guard/write-guard.ts';
import { entryJson, withLog } from './common.ts';
import { stdout } from './output.ts';
import { CliError } from '../errors.ts';

interface RecoverOptions {
  write?: boolean;
  verbose?: boolean;
  force?: boolean;
  backup?: string;
  json?: boolean;
}

const entryLine = (e: Entry) => {
  const what = e.mark !== undefined ? `mark '${e.mark}'` : e.nrSectors ? sectorsText(e.sector, e.nrSectors) : '';
  return `entry ${e.index} at byte ${e.offset}: ${flagNames(e.flags, e.flagsHigh)} ${what}`.trimEnd();
};

/** Counts of the recovered entries by kind, e.g. `3 writes, 1 flush, 1 mark`. */
function kinds(entries: readonly Entry[]): string {
  const n = { write: 0, discard: 0, flush: 0, FUA: 0, mark: 0 };
  for (const e of entries) {
    if (e.flags & Flag.MARK) n.mark++;
    else if (e.flags & Flag.DISCARD) n.discard++;
    else if (e.nrSectors) n.write++;
    if (e.flags & Flag.FLUSH) n.flush++;
    if (e.flags & Flag.FUA) n.FUA++;
  }
  return Object.entries(n)
    .filter(([, v]) => v)
    .map(([k, v]) => `${v} ${k}${v === 1 || k === 'FUA' ? '' : k.endsWith('sh') ? 'es' : 's'}`)
    .join(', ');
}

function printRecovery(path: string, r: Recovery, verbose: boolean): void {
  const past = r.validEntries - r.nrEntries;
  stdout.line(`log        ${path} (sectorsize ${r.sectorSize})`);
  stdout.line(`super      nr_entries ${r.nrEntries}`);
  stdout.line(
    `valid      ${r.validEntries} entries, ending at byte ${r.end}${past > 0 ? ` (${past} past nr_entries)` : ''}`,
  );
  stdout.line(`stopped    ${r.stoppedBecause}`);
  const [first, last] = [r.trailing[0], r.trailing[r.trailing.length - 1]];
  if (verbose) for (const e of r.trailing) stdout.line(`  ${entryLine(e)}`);
  else if (first && last) {
    stdout.line(`recovered  ${r.trailing.length} entries past nr_entries: ${kinds(r.trailing)}`);
    stdout.line(`first      ${entryLine(first)}`);
    if (last !== first) stdout.line(`last       ${entryLine(last)}`);
  }
  if (past > 0) stdout.line('note       headers are checked, payloads cannot be (the format has no checksums)');
}

function verdict(r: Recovery): string {
  if (r.validEntries === r.nrEntries) return 'the super already counts every valid entry: nothing to do';
  const how = r.validEntries > r.nrEntries ? 'raise' : 'lower';
  return `--write would ${how} nr_entries from ${r.nrEntries} to ${r.validEntries}`;
}

/** recover is what the crash note points to: it says everything itself. */
const NO_NOTE = { crashNote: false };

export async function recoverCommand(logPath: string, o: RecoverOptions): Promise<Recovery> {
  if (o.backup !== undefined && !o.write) throw new CliError('--backup goes with --write');
  // A log a live server (or a mount) holds is judged first: its count is moving under us.
  if (o.write) guardWrite(`rewrite the super of ${logPath}`, { path: logPath }, !!o.force);
  const r = await withLog(logPath, ({ reader }) => recover(reader), NO_NOTE);
  if (o.json) stdout.json({ ...r, trailing: r.trailing.map(entryJson) });
  else printRecovery(logPath, r, !!o.verbose);
  if (!o.write) {
    if (!o.json) stdout.line(verdict(r) + (r.validEntries !== r.nrEntries ? ' (the old super is saved first)' : ''));
    return r;
  }
  if (r.validEntries === r.nrEntries) {
    if (!o.json) stdout.line(verdict(r));
    return r;
  }
  const backup = o.backup ?? `${logPath}.super-backup`;
  await rewriteCount(logPath, r, backup);
  if (!o.json) {
    stdout.line(`rewrote    nr_entries ${r.nrEntries} -> ${r.validEntries}; the old super sector is in ${backup}`);
    stdout.line(`           (to undo: dd if=${backup} of=${logPath} conv=notrunc,fsync)`);
  }
  return r;
}

export function registerRecover(program: Command): void {
  program
    .command('recover')
    .description(
      "after a crash: find the valid entries past (or short of) the super's nr_entries; --write fixes the count",
    )
    .argument('<log>', 'log file or device (not in use by a live target)')
    .option('--write', 'rewrite nr_entries in the super to the number of valid entries')
    .option('--force', 'rewrite even a log that is mounted or held by a running serve')
    .option(
      '--backup <path>',
      'where --write saves the original super sector (default <log>.super-backup; never overwritten)',
    )
    .option('--verbose', 'list every recovered entry (by default: counts, the first and the last)')
    .option('--json', 'the findings as one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  $ logwrites recover log.img\n  $ logwrites recover log.img --write --backup /root/log-super.bin',
    )
    .action(async (path: string, o: RecoverOptions) => {
      await recoverCommand(path, o);
    });
}
