// Applying a log into an in-memory image (the viewer's states): the kernels' apply, one native
// copy or fill per op, against the limit, one Uint8Array.set of each batch's bytes. Batches
// look like the reader's: 8 MiB of log holding 512-byte headers and payloads. A wasm apply
// (the image in linear memory, each batch staged once and applied in one call) ran at 0.53x
// of this on the mixed batches and 0.72x on the small ones (medians of 5, 512 MiB), so it was
// removed.
// `node bench/run.mjs apply [--mib 1024] [--rounds 5]`: --mib is the log size.

import { randomFillSync } from 'node:crypto';
import { jsKernels, type ApplyOp } from '../src/kernels/load.ts';
import { args, measure, median, MiB, table } from './stats.ts';

const { mib, rounds } = args({ mib: 1024, rounds: 5 });
const S = 512;
const IMAGE = 256 * MiB;
const BATCH = 8 * MiB;
const DISTINCT = 8; // distinct batches, cycled to make up the log

interface Batch {
  bytes: Uint8Array;
  ops: ApplyOp[];
}

type Mix = (rand: (n: number) => number) => number | 'discard';
const mixes: Record<string, Mix> = {
  // Mostly 4 KiB writes with some sector-sized, large and discard entries.
  mixed: (rand) => {
    const r = rand(100);
    if (r < 50) return 4096;
    if (r < 70) return S * (1 + rand(8));
    if (r < 90) return 4096 * (4 + rand(28));
    if (r < 95) return MiB;
    return 'discard';
  },
  // One-sector writes: what per-op overhead costs.
  small: () => S,
};

function makeBatches(mix: Mix, seed: number): Batch[] {
  let x = seed;
  const rand = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
  return Array.from({ length: DISTINCT }, () => {
    const bytes = randomFillSync(new Uint8Array(BATCH));
    const ops: ApplyOp[] = [];
    for (let at = 0; ; ) {
      const kind = mix(rand);
      const length = kind === 'discard' ? S * (1 + rand(2048)) : kind;
      const offset = S * rand((IMAGE - length) / S);
      const payload = kind === 'discard' ? 0 : length;
      if (at + S + payload > BATCH) break;
      at += S; // the header sector
      ops.push(
        kind === 'discard'
          ? { kind: 'zero', offset, length }
          : { kind: 'write', offset, data: bytes.subarray(at, at + length) },
      );
      at += payload;
    }
    return { bytes, ops };
  });
}

const image = new Uint8Array(IMAGE).fill(1); // touched, so no run pays page faults
const nBatches = Math.round((mib * MiB) / BATCH);
console.log(
  `apply: ${nBatches} batches of ${BATCH / MiB} MiB (${(nBatches * BATCH) / MiB} MiB of log) into a ${IMAGE / MiB} MiB image, median of ${rounds} rounds, Node ${process.version}\n`,
);

for (const [name, mix] of Object.entries(mixes)) {
  const batches = makeBatches(mix, 7);
  const each = (f: (b: Batch) => void) => () => {
    for (let i = 0; i < nBatches; i++) f(batches[i % DISTINCT]!);
  };
  const opsPerBatch = batches.reduce((n, b) => n + b.ops.length, 0) / DISTINCT;
  const candidates = [
    { name: 'limit: Uint8Array.set of each batch', run: each((b) => image.set(b.bytes, 0)) },
    { name: 'ts apply (set/fill per op)', run: each((b) => jsKernels.apply(image, b.ops)) },
  ];
  const speeds = await measure(candidates, nBatches * BATCH, rounds);
  const limit = median(speeds.get(candidates[0]!.name)!);
  console.log(`${name}: ${opsPerBatch.toFixed(0)} ops per batch`);
  console.log(
    table([
      ['candidate', 'MiB/s of log', 'min..max', 'vs limit'],
      ...candidates.map((c) => {
        const v = speeds.get(c.name)!;
        return [
          c.name,
          median(v).toFixed(0),
          `${Math.min(...v).toFixed(0)}..${Math.max(...v).toFixed(0)}`,
          (median(v) / limit).toFixed(2),
        ];
      }),
    ]),
  );
  console.log();
}
