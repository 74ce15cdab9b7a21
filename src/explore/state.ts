// Crash states and their ids.
//
// A state of an epoch is a crash point (the first c writes of the epoch completed before the
// power went; later ones never did) and, among those c, the cached writes that had not reached
// the disk. FUA writes before the crash point are always present. The id names the state by
// log entries alone, so it reads without knowing the epochs: `346` is the first 346 entries
// of the log (what `replay --limit 346` writes), `346-340,342..344` the same without entries
// 340, 342, 343 and 344. A state's canonical id ends at its last present write.

import type { Epoch } from './epochs.ts';
import { StateIdError } from '../errors.ts';

/** One byte per write of the epoch: 1 when the write is on disk in this state. */
export type Included = Uint8Array;

export interface StateRef {
  /** Entries [0, count) completed before the crash. */
  readonly count: number;
  /** Entry numbers of completed cached writes that did not reach the disk, ascending. */
  readonly excluded: readonly number[];
}

/** The canonical id of `included` in `epoch`. */
export function stateId(epoch: Epoch, included: Included): string {
  let last = included.length - 1;
  while (last >= 0 && !included[last]) last--;
  const count = last < 0 ? epoch.start : epoch.writes[last]!.entry + 1;
  const excluded: number[] = [];
  for (let i = 0; i < last; i++) if (!included[i]) excluded.push(epoch.writes[i]!.entry);
  return formatStateId({ count, excluded });
}

export function formatStateId(s: StateRef): string {
  if (!s.excluded.length) return String(s.count);
  const parts: string[] = [];
  for (let i = 0; i < s.excluded.length; ) {
    let j = i;
    while (j + 1 < s.excluded.length && s.excluded[j + 1] === s.excluded[j]! + 1) j++;
    parts.push(j > i ? `${s.excluded[i]}..${s.excluded[j]}` : String(s.excluded[i]));
    i = j + 1;
  }
  return `${s.count}-${parts.join(',')}`;
}

export function parseStateId(text: string): StateRef {
  const m = /^(\d+)(?:-(\d+(?:\.\.\d+)?(?:,\d+(?:\.\.\d+)?)*))?$/.exec(text.trim());
  if (!m) throw new StateIdError(`'${text}' is not a state id (COUNT or COUNT-ENTRY,FROM..TO,...)`);
  const count = Number(m[1]);
  const excluded = new Set<number>();
  for (const part of m[2]?.split(',') ?? []) {
    const [a, b = a] = part.split('..').map(Number) as [number, number?];
    if (b < a) throw new StateIdError(`state id '${text}': range ${part} ends before it starts`);
    if (b - a > 1 << 24) throw new StateIdError(`state id '${text}': range ${part} is absurdly long`);
    for (let x = a; x <= b; x++) excluded.add(x);
  }
  for (const x of excluded)
    if (x >= count) throw new StateIdError(`state id '${text}': entry ${x} is not before the crash point ${count}`);
  return { count, excluded: [...excluded].sort((x, y) => x - y) };
}

/**
 * Entry numbers of the epoch's writes in a state: present, missing (completed before the crash
 * point but not on disk), and never completed (after the crash point).
 */
export function describeState(
  epoch: Epoch,
  included: Included,
): { included: number[]; excluded: number[]; unreached: number[] } {
  const last = included.lastIndexOf(1);
  const inc: number[] = [];
  const exc: number[] = [];
  const unreached: number[] = [];
  epoch.writes.forEach((w, i) => (included[i] ? inc : i < last ? exc : unreached).push(w.entry));
  return { included: inc, excluded: exc, unreached };
}
