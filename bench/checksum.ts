// Checksum throughput over random data: our crc32c and xxh64 (wasm, TypeScript) against
// hash-wasm, native SSE4.2 crc32c (@node-rs/crc32) and Node's md5/sha1 for scale; and the state
// fingerprint (per-sector xxh64 plus its table), wasm against TypeScript.
// `node bench/run.mjs checksum [--mib 256] [--rounds 5]`; prints median MiB/s per candidate.

import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { createHash, randomFillSync } from 'node:crypto';
import { createCRC32, createXXHash64 } from 'hash-wasm';
import { jsKernels, type Kernels } from '../src/kernels/load.ts';
import { instantiateWasm } from '../src/kernels/wasm.ts';
import { args, measure, median, MiB, table } from './stats.ts';

const { mib, rounds } = args({ mib: 256, rounds: 5 });
const data = new Uint8Array(mib * MiB);
for (let at = 0; at < data.length; at += 64 * MiB) randomFillSync(data.subarray(at, at + 64 * MiB));

const wasm = await instantiateWasm();
const hwCrc = await createCRC32(0x82f63b78);
const hwXxh = await createXXHash64(0, 0);

// Every candidate must agree before any is timed.
const crc = nativeCrc32c(data);
const xxh = BigInt(`0x${hwXxh.init().update(data).digest()}`);
const check = (name: string, got: unknown, want: unknown) => {
  if (got !== want) throw new Error(`${name} disagrees: ${got} != ${want}`);
};
check('wasm crc32c', wasm.crc32c(data), crc);
check('hash-wasm crc32c', parseInt(hwCrc.init().update(data).digest(), 16), crc);
check('wasm xxh64', wasm.xxh64(data), xxh);
check(
  'js xxh64',
  jsKernels.xxh64(data.subarray(0, 4 * MiB)),
  BigInt(
    `0x${hwXxh
      .init()
      .update(data.subarray(0, 4 * MiB))
      .digest()}`,
  ),
);

/** The whole data written as one device's sectors, then the state fingerprint read. */
const fingerprint = (k: Kernels) => {
  const fp = k.fingerprint(4096);
  for (let at = 0; at < data.length; at += 8 * MiB) fp.write(at / 4096, data.subarray(at, at + 8 * MiB));
  const v = fp.value();
  fp.dispose();
  return v;
};
check('fingerprint', fingerprint(wasm), fingerprint(jsKernels));

const copy = new Uint8Array(data.length).fill(1); // touched, so the copy times no page faults
const candidates = [
  { name: 'memcpy (Uint8Array.set)', group: 'limit', run: () => copy.set(data) },
  { name: 'crc32c native SSE4.2 (@node-rs/crc32)', group: 'crc32c', run: () => nativeCrc32c(data) },
  { name: 'crc32c hash-wasm', group: 'crc32c', run: () => hwCrc.init().update(data).digest() },
  { name: 'crc32c ours wasm', group: 'crc32c', run: () => wasm.crc32c(data) },
  { name: 'crc32c ours js', group: 'crc32c', run: () => jsKernels.crc32c(data) },
  { name: 'xxh64 hash-wasm', group: 'xxh64', run: () => hwXxh.init().update(data).digest() },
  { name: 'xxh64 ours wasm', group: 'xxh64', run: () => wasm.xxh64(data) },
  { name: 'xxh64 ours js', group: 'xxh64', run: () => jsKernels.xxh64(data) },
  { name: 'fingerprint ours wasm (4 KiB sectors)', group: 'fingerprint', run: () => fingerprint(wasm) },
  { name: 'fingerprint ours js (4 KiB sectors)', group: 'fingerprint', run: () => fingerprint(jsKernels) },
  { name: 'md5 node crypto', group: 'scale', run: () => createHash('md5').update(data).digest() },
  { name: 'sha1 node crypto', group: 'scale', run: () => createHash('sha1').update(data).digest() },
];
const speeds = await measure(candidates, data.length, rounds);
const med = new Map([...speeds].map(([k, v]) => [k, median(v)]));
const memcpy = med.get('memcpy (Uint8Array.set)')!;
/** The fastest peer (not ours) of the same algorithm. */
const bestPeer = (group: string) =>
  Math.max(...candidates.filter((c) => c.group === group && !c.name.includes('ours')).map((c) => med.get(c.name)!));

console.log(`checksum: ${mib} MiB of random data, median of ${rounds} rounds, Node ${process.version}\n`);
console.log(
  table([
    ['candidate', 'MiB/s', 'min..max', 'vs best peer', 'vs memcpy'],
    ...candidates.map((c) => {
      const v = speeds.get(c.name)!;
      const peer = c.group === 'crc32c' || c.group === 'xxh64' ? (med.get(c.name)! / bestPeer(c.group)).toFixed(2) : '';
      return [
        c.name,
        med.get(c.name)!.toFixed(0),
        `${Math.min(...v).toFixed(0)}..${Math.max(...v).toFixed(0)}`,
        peer,
        (med.get(c.name)! / memcpy).toFixed(3),
      ];
    }),
  ]),
);
// Ratios per round, then their median: on a busy machine, pairs timed back to back share the load.
const ratio = (a: string, b: string) => {
  const [x, y] = [speeds.get(a)!, speeds.get(b)!];
  return median(x.map((v, i) => v / y[i]!)).toFixed(2);
};
console.log(`\nmedian per-round ratios`);
console.log(
  `ours wasm / hash-wasm: crc32c ${ratio('crc32c ours wasm', 'crc32c hash-wasm')}x, xxh64 ${ratio('xxh64 ours wasm', 'xxh64 hash-wasm')}x`,
);
console.log(
  `ours wasm / ours js:   crc32c ${ratio('crc32c ours wasm', 'crc32c ours js')}x, xxh64 ${ratio('xxh64 ours wasm', 'xxh64 ours js')}x, ` +
    `fingerprint ${ratio('fingerprint ours wasm (4 KiB sectors)', 'fingerprint ours js (4 KiB sectors)')}x`,
);
