// `digest`: the device-state fingerprint at chosen points of a log, with no target. The
// entries are applied by the replay loop, as every entry-by-entry replay is, onto a target
// that hashes what it is given instead of storing it.

import { flagNames } from '../format.ts';
import type { Fingerprint, Kernels } from '../kernels/load.ts';
import type { LogReader } from '../reader.ts';
import { replay, type ReplayTarget } from '../replay/loop.ts';
import { ReplayError } from '../errors.ts';
import { hex64 } from '../units.ts';

/** Where to take a fingerprint: after every entry with any of these flags, or after every Nth entry. */
export type DigestAt = { readonly flags: number } | { readonly every: number };

/** One fingerprint of the device as it stands right after `entry`. */
export interface DigestPoint {
  entry: number;
  /** The entry's flags as names (`FUA|MARK`). */
  flags: string;
  mark?: string;
  /** hex64 of the order-independent fingerprint: equal for equal device content. */
  fingerprint: string;
}

/** A replay target that feeds a fingerprint: the device is its hash, never its bytes. */
export function fingerprintTarget(fp: Fingerprint, sectorSize: number): ReplayTarget {
  return {
    write(offset, parts) {
      let sector = offset / sectorSize;
      for (const p of parts) {
        fp.write(sector, p);
        sector += p.length / sectorSize;
      }
    },
    zero: (offset, length) => fp.zero(offset / sectorSize, length / sectorSize),
    sync() {},
  };
}

/**
 * The device-state fingerprint at every point `at` chooses and after the last entry, in one
 * pass over the log, with the caller's kernels (the platform picks them). A problem in the
 * log throws the LogFormatError itself: there is no target whose state to report.
 */
export async function digestPoints(
  reader: LogReader,
  at: DigestAt,
  kernels: Pick<Kernels, 'fingerprint'>,
  emit: (p: DigestPoint) => void,
): Promise<void> {
  const fp = kernels.fingerprint(reader.sectorSize);
  const chosen =
    'every' in at
      ? (index: number) => (index + 1) % at.every === 0
      : (_: number, flags: number) => (flags & at.flags) !== 0;
  let lastEmitted = -1;
  try {
    const r = await replay(reader, fingerprintTarget(fp, reader.sectorSize), {
      visit(e, _applied, settle) {
        if (!chosen(e.index, e.flags)) return 'next';
        // The run of writes the loop gathers must reach the fingerprint first.
        const point = settle().then(() => emit(pointOf(e, fp)));
        lastEmitted = e.index;
        return point.then(() => 'next');
      },
    });
    if (r.last && r.last.index !== lastEmitted) emit(pointOf(r.last, fp));
  } catch (e) {
    throw e instanceof ReplayError ? e.cause : e;
  } finally {
    fp.dispose();
  }
}

const pointOf = (
  e: { index: number; flags: number; flagsHigh: number; mark?: string | undefined },
  fp: Fingerprint,
): DigestPoint => ({
  entry: e.index,
  flags: flagNames(e.flags, e.flagsHigh),
  ...(e.mark === undefined ? {} : { mark: e.mark }),
  fingerprint: hex64(fp.value()),
});
