// The sector map against the obvious model (one slot per sector), on random histories that
// mix writes with discards of whole pages, partial pages and whole devices; its extents are the
// longest runs (no two in a row continue each other).
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { SectorMap, UNTOUCHED, ZEROED, type Extent } from '../src/replay/sector-map.ts';

const S = 512;
const SECTORS = 5 * 4096 + 123;

const op = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    sector: fc.nat(SECTORS - 1),
    n: fc.integer({ min: 1, max: 300 }),
    // In log sectors; some past 2^31, where the map's slots widen from 32 to 64 bits.
    source: fc.oneof(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 2 ** 31 - 400, max: 2 ** 31 + 400 })),
    // Bytes past the log sector: 0 for every payload of a log, not for a caller's own offsets.
    shift: fc.oneof(
      { weight: 9, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: S - 1 }) },
    ),
  }),
  fc.record({
    kind: fc.constant('zero' as const),
    sector: fc.nat(SECTORS - 1),
    n: fc.integer({ min: 1, max: 3 * 4096 }),
  }),
  fc.record({
    kind: fc.constant('zero' as const),
    sector: fc.constantFrom(0, 4096, 8192),
    n: fc.constantFrom(4096, 8192, SECTORS),
  }),
);

/** Whether `x` goes on where `prev` ends: the same zeros, or the log bytes right after its own. */
const continues = (prev: Extent, x: Extent) =>
  prev.source === ZEROED ? x.source === ZEROED : x.source === prev.source + prev.nrSectors * S;

// Device sectors from `base` on: 0, pages on both sides of 2^31 (where a page's number stops
// being a shift) and past 2^32.
it.each([0, 2 ** 31 - 2 * 4096, 2 ** 32 + 4096])(
  'agrees with a slot per sector from sector %d, and its extents cover exactly the touched sectors',
  (base) => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const map = new SectorMap(S);
        const model = new Float64Array(SECTORS + 3 * 4096);
        for (const o of ops) {
          const n = Math.min(o.n, model.length - o.sector);
          if (o.kind === 'write') {
            map.set(base + o.sector, n, o.source * S + o.shift);
            for (let i = 0; i < n; i++) model[o.sector + i] = (o.source + i) * S + o.shift;
          } else {
            map.set(base + o.sector, n, ZEROED);
            model.fill(ZEROED, o.sector, o.sector + n);
          }
        }
        const got = Float64Array.from(model, (_, s) => map.get(base + s));
        expect(Buffer.from(got.buffer).equals(Buffer.from(model.buffer))).toBe(true);
        const fromExtents = new Float64Array(model.length);
        let prev: Extent | undefined;
        for (const x of map.extents()) {
          if (x.sector < base) throw new Error(`an extent at ${x.sector}, before the first sector set`);
          if (prev && x.sector < prev.sector + prev.nrSectors) throw new Error(`extents overlap at ${x.sector}`);
          if (prev && x.sector === prev.sector + prev.nrSectors && continues(prev, x))
            throw new Error(`extents at ${prev.sector} and ${x.sector} are one run`);
          for (let i = 0; i < x.nrSectors; i++)
            fromExtents[x.sector - base + i] = x.source === ZEROED ? ZEROED : x.source + i * S;
          prev = x;
        }
        expect(Buffer.from(fromExtents.buffer).equals(Buffer.from(model.buffer))).toBe(true);
        expect(map.touchedSectors).toBe(model.filter((v) => v !== UNTOUCHED).length);
      }),
      { numRuns: 200, seed: 42 },
    );
  },
);

it('keeps a discard of a whole 16 TiB device as one run', () => {
  const map = new SectorMap(S);
  const sectors = 2 ** 35; // 16 TiB of 512-byte sectors
  map.set(0, sectors, ZEROED);
  map.set(4096 * 3 + 7, 2, 4096);
  const extents = [...map.extents()];
  expect(extents).toEqual([
    { sector: 0, nrSectors: 4096 * 3 + 7, source: ZEROED },
    { sector: 4096 * 3 + 7, nrSectors: 2, source: 4096 },
    { sector: 4096 * 3 + 9, nrSectors: sectors - (4096 * 3 + 9), source: ZEROED },
  ]);
});
