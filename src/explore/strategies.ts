// Which crash states of an epoch to visit. Each strategy is bounded and deterministic, and
// yields states in an order that keeps consecutive ones close (few writes differ), since
// moving between states costs the bytes that differ.

import type { Epoch } from './epochs.ts';
import { stateId, type Included } from './state.ts';

export type Strategy =
  | { readonly kind: 'flush' }
  | { readonly kind: 'prefix' }
  | { readonly kind: 'omit-one' }
  | { readonly kind: 'random'; readonly states: number; readonly seed: number }
  | { readonly kind: 'exhaustive'; readonly maxWrites: number };

export type StrategyKind = Strategy['kind'];
export const STRATEGY_KINDS: readonly StrategyKind[] = ['flush', 'prefix', 'omit-one', 'random', 'exhaustive'];

/** The largest --max-writes: 2^24 states of one epoch is already more than anyone checks. */
export const MAX_EXHAUSTIVE_WRITES = 24;

/** The first `c` writes, FUA and cached alike: the crash after write c with every cache line written back. */
function prefixOf(m: number, c: number): Included {
  const s = new Uint8Array(m);
  s.fill(1, 0, c);
  return s;
}

/** Every prefix in log order (the empty one only when `withBase`): what upstream's per-entry checks approximate. */
export function* prefixStates(epoch: Epoch, withBase: boolean): Generator<Included> {
  const m = epoch.writes.length;
  for (let c = withBase ? 0 : 1; c <= m; c++) yield prefixOf(m, c);
}

/** The whole epoch but one cached write. */
export function* omitOneStates(epoch: Epoch): Generator<Included> {
  const m = epoch.writes.length;
  for (let i = 0; i < m; i++) {
    if (epoch.writes[i]!.fua) continue;
    const s = prefixOf(m, m);
    s[i] = 0;
    yield s;
  }
}

/** Cached writes among the first j writes, for j = 0..m. */
function cachedBefore(epoch: Epoch): number[] {
  const k = [0];
  for (const w of epoch.writes) k.push(k[k.length - 1]! + (w.fua ? 0 : 1));
  return k;
}

/**
 * The number of distinct states of an epoch: the empty one, and for each crash point c the
 * 2^k subsets of the k cached writes before write c (write c itself present). Infinity past 2^53.
 */
export function stateCount(epoch: Epoch): number {
  const k = cachedBefore(epoch);
  let total = 1;
  for (let c = 1; c <= epoch.writes.length; c++) total += 2 ** k[c - 1]!;
  return Number.isSafeInteger(total) ? total : Infinity;
}

/** Every state, crash point by crash point, each crash point's subsets in Gray-code order. */
export function* allStates(epoch: Epoch): Generator<Included> {
  const m = epoch.writes.length;
  yield new Uint8Array(m);
  for (let c = 1; c <= m; c++) {
    const cached: number[] = [];
    for (let i = 0; i < c - 1; i++) if (!epoch.writes[i]!.fua) cached.push(i);
    const s = prefixOf(m, c);
    for (let g = 0; g < 2 ** cached.length; g++) {
      const gray = g ^ (g >>> 1);
      for (let b = 0; b < cached.length; b++) s[cached[b]!] = (gray >>> b) & 1 ? 0 : 1;
      yield s.slice();
    }
  }
}

/** Every state when the epoch has at most `maxWrites` writes; nothing otherwise. */
export function* exhaustiveStates(epoch: Epoch, maxWrites: number): Generator<Included> {
  if (epoch.writes.length <= Math.min(maxWrites, MAX_EXHAUSTIVE_WRITES)) yield* allStates(epoch);
}

/** A small seeded generator (mulberry32): the same seed and epoch give the same states anywhere. */
export function seededRandom(seed: number, stream: number): () => number {
  let a = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * `count` distinct states drawn uniformly from all the epoch's states: a crash point weighted
 * by how many states it has, then each cached write before it present with probability 1/2.
 * When the epoch has no more states than asked for, all of them.
 */
export function* randomStates(epoch: Epoch, count: number, seed: number): Generator<Included> {
  if (stateCount(epoch) <= count) {
    yield* allStates(epoch);
    return;
  }
  const m = epoch.writes.length;
  const k = cachedBefore(epoch);
  const top = k[m]!;
  // Weights relative to the largest, so they stay finite for epochs of thousands of writes.
  const weights = [2 ** -top];
  for (let c = 1; c <= m; c++) weights.push(2 ** (k[c - 1]! - top));
  let total = 0;
  for (const w of weights) total += w;
  const random = seededRandom(seed, epoch.index);
  const seen = new Set<string>();
  // More states exist than asked for, so repeats are rare; the bound only guards bad luck.
  for (let draws = 0; seen.size < count && draws < 16 * count; draws++) {
    let r = random() * total;
    let c = 0;
    while (c < m && r >= weights[c]!) r -= weights[c++]!;
    const s = prefixOf(m, c);
    for (let i = 0; i < c - 1; i++) if (!epoch.writes[i]!.fua && random() < 0.5) s[i] = 0;
    const id = stateId(epoch, s);
    if (seen.has(id)) continue;
    seen.add(id);
    yield s;
  }
}

function* byStrategy(epoch: Epoch, s: Strategy): Generator<Included> {
  switch (s.kind) {
    case 'flush':
      // Every epoch's states end with the epoch complete: the state at each FLUSH is the whole strategy.
      return;
    case 'prefix':
      return yield* prefixStates(epoch, false);
    case 'omit-one':
      return yield* omitOneStates(epoch);
    case 'random':
      return yield* randomStates(epoch, s.states, s.seed);
    case 'exhaustive':
      return yield* exhaustiveStates(epoch, s.maxWrites);
  }
}

export interface PlannedState {
  readonly id: string;
  readonly included: Included;
}

/**
 * The states of one epoch for every strategy in turn, each id once. Whatever the strategies,
 * the epoch complete (the state at its closing FLUSH) is among them, and so is the durable
 * prefix it starts from when it is the `first` epoch explored; an empty state of a later
 * epoch is the previous epoch complete, so it is left out.
 */
export function* epochStates(epoch: Epoch, strategies: readonly Strategy[], first: boolean): Generator<PlannedState> {
  const m = epoch.writes.length;
  const seen = new Set<string>();
  function* fresh(states: Iterable<Included>): Generator<PlannedState> {
    for (const included of states) {
      if (!first && !included.includes(1)) continue;
      const id = stateId(epoch, included);
      if (seen.has(id)) continue;
      seen.add(id);
      yield { id, included };
    }
  }
  if (first) yield* fresh([new Uint8Array(m)]);
  for (const s of strategies) yield* fresh(byStrategy(epoch, s));
  yield* fresh([prefixOf(m, m)]);
}
