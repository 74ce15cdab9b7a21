// The kernels against published vectors, against independent implementations (hash-wasm,
// @node-rs/crc32) and against each other: WebAssembly and TypeScript must agree everywhere.

import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import * as esbuild from 'esbuild';
import fc from 'fast-check';
import * as fs from 'node:fs';
import { xxhash64 } from 'hash-wasm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsKernels, loadKernels, type ApplyOp, type Fingerprint, type Kernels } from '../src/kernels/load.ts';
import { CHROMIUM, launch } from './support/browser.ts';
import { ROOT } from './support/fixtures.ts';

const wasm = await loadKernels();
const both: [string, Kernels][] = [
  ['wasm', wasm],
  ['js', jsKernels],
];
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Deterministic bytes (xorshift32), so a failure reproduces. */
function noise(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** xxHash's sanity buffer: byte i is the top byte of PRIME32 * PRIME64^i. */
function sanityBuffer(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let g = 2654435761n;
  for (let i = 0; i < n; i++) {
    out[i] = Number(g >> 56n);
    g = BigInt.asUintN(64, g * 11400714785074694797n);
  }
  return out;
}

async function referenceXxh64(data: Uint8Array, seed = 0n): Promise<bigint> {
  const lo = Number(BigInt.asUintN(32, seed));
  const hi = Number(BigInt.asUintN(32, seed >> 32n));
  return BigInt(`0x${await xxhash64(data, lo, hi)}`);
}

function pieces(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  return [0, ...at, data.length].slice(1).map((end, i, ends) => data.subarray(i ? ends[i - 1] : 0, end));
}

it('loads the WebAssembly kernels here', () => {
  expect(wasm.kind).toBe('wasm');
});

describe.each(both)('%s kernels', (_, k) => {
  describe('crc32c', () => {
    it('matches the published check value and the empty input', () => {
      expect(k.crc32c(utf8('123456789'))).toBe(0xe3069283);
      expect(k.crc32c(new Uint8Array(0))).toBe(0);
      expect(k.crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
      expect(k.crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    });

    it('agrees with native SSE4.2 crc32c on random inputs, in any alignment', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(15), (data, skip) => {
          const view = data.subarray(Math.min(skip, data.length));
          expect(k.crc32c(view)).toBe(nativeCrc32c(view));
        }),
        { numRuns: 300 },
      );
    });

    it('runs over pieces, including inputs larger than a wasm chunk', () => {
      const data = noise(1_000_003, 7);
      const whole = nativeCrc32c(data);
      expect(k.crc32c(data)).toBe(whole);
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
          const crc = pieces(data, cuts).reduce((c, p) => k.crc32c(p, c), 0);
          expect(crc).toBe(whole);
        }),
        { numRuns: 20 },
      );
    });
  });

  describe('xxh64', () => {
    it("matches xxHash's sanity vectors, seeded and not", () => {
      const buf = sanityBuffer(222);
      const prime = 2654435761n;
      const vectors: [number, bigint, bigint][] = [
        [0, 0n, 0xef46db3751d8e999n],
        [0, prime, 0xac75fda2929b17efn],
        [1, 0n, 0xe934a84adb052768n],
        [1, prime, 0x5014607643a9b4c3n],
        [4, 0n, 0x9136a0dca57457een],
        [14, 0n, 0x8282dcc4994e35c8n],
        [14, prime, 0xc3bd6bf63deb6df0n],
        [222, 0n, 0xb641ae8cb691c174n],
        [222, prime, 0x20cb8ab7ae10c14an],
      ];
      for (const [n, seed, want] of vectors) {
        expect(k.xxh64(buf.subarray(0, n), seed), `length ${n} seed ${seed}`).toBe(want);
        expect(k.xxh64Stream(seed).update(buf.subarray(0, n)).digest()).toBe(want);
      }
      expect(k.xxh64(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
    });

    it('agrees with hash-wasm on random inputs and 64-bit seeds', async () => {
      const samples = fc.sample(
        fc.tuple(fc.uint8Array({ maxLength: 600 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
        {
          numRuns: 300,
          seed: 42,
        },
      );
      for (const [data, seed] of samples) expect(k.xxh64(data, seed)).toBe(await referenceXxh64(data, seed));
    });

    it('streams in random pieces, digests mid-stream without disturbing it, interleaves streams', async () => {
      const data = noise(300_001, 3);
      const want = await referenceXxh64(data, 99n);
      expect(k.xxh64(data, 99n)).toBe(want);
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
          const a = k.xxh64Stream(99n);
          const b = k.xxh64Stream();
          const parts = pieces(data, cuts);
          for (const p of parts) {
            a.update(p);
            b.update(p.subarray(0, 5));
          }
          expect(a.digest()).toBe(want);
          expect(a.digest()).toBe(want);
          expect(b.digest()).toBe(jsKernels.xxh64(Uint8Array.from(parts.flatMap((p) => [...p.subarray(0, 5)]))));
        }),
        { numRuns: 25 },
      );
      const s = k.xxh64Stream().update(data.subarray(0, 100));
      expect(s.digest()).toBe(await referenceXxh64(data.subarray(0, 100)));
      expect(s.update(data.subarray(100, 200)).digest()).toBe(await referenceXxh64(data.subarray(0, 200)));
    });
  });

  describe('apply', () => {
    const op = (size: number) =>
      fc.oneof(
        fc.record({
          kind: fc.constant('write' as const),
          offset: fc.nat(size - 1),
          data: fc.uint8Array({ minLength: 1, maxLength: 200 }),
        }),
        fc.record({ kind: fc.constant('zero' as const), offset: fc.nat(size - 1), length: fc.nat(300) }),
      );
    const naive = (image: Uint8Array, ops: readonly ApplyOp[]) => {
      for (const o of ops) {
        const n = o.kind === 'write' ? o.data.length : o.length;
        for (let i = 0; i < n; i++) image[o.offset + i] = o.kind === 'write' ? o.data[i]! : 0;
      }
    };

    it('equals copying byte by byte, in order', () => {
      const size = 2048;
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: size, maxLength: size }),
          fc.array(op(size - 500), { maxLength: 30 }),
          (start, ops) => {
            const want = start.slice();
            naive(want, ops);
            const got = start.slice();
            k.apply(got, ops);
            expect(got).toEqual(want);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  describe('fingerprint', () => {
    /** The definition, computed from scratch over an image with hash-wasm's xxh64. */
    async function reference(image: Uint8Array, S: number): Promise<bigint> {
      let sum = 0n;
      const prefixed = new Uint8Array(8 + S);
      const dv = new DataView(prefixed.buffer);
      for (let s = 0; s * S < image.length; s++) {
        const content = image.subarray(s * S, (s + 1) * S);
        if (content.every((b) => b === 0)) continue;
        dv.setBigUint64(0, BigInt(s), true);
        prefixed.set(content, 8);
        sum += await referenceXxh64(prefixed);
      }
      return BigInt.asUintN(64, sum);
    }

    type Op = { zero: false; sector: number; data: Uint8Array } | { zero: true; sector: number; n: number };
    /** Random writes and discards over a small device, some of them writing zero sectors. */
    function ops(S: number, sectors: number, count: number, seed: number): Op[] {
      const out: Op[] = [];
      let x = seed;
      const rand = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
      for (let i = 0; i < count; i++) {
        const sector = rand(sectors);
        const n = 1 + rand(Math.min(8, sectors - sector));
        if (rand(5) === 0) {
          out.push({ zero: true, sector, n });
        } else {
          const data = noise(n * S, seed * 1000 + i);
          if (rand(3) === 0) data.fill(0, 0, S); // a written sector of zeros
          out.push({ zero: false, sector, data });
        }
      }
      return out;
    }
    function run(fp: Fingerprint, image: Uint8Array | undefined, S: number, list: Op[]): void {
      for (const o of list) {
        if (o.zero) {
          fp.zero(o.sector, o.n);
          image?.fill(0, o.sector * S, (o.sector + o.n) * S);
        } else {
          fp.write(o.sector, o.data);
          image?.set(o.data, o.sector * S);
        }
      }
    }

    it.each([512, 4096])('equals its definition after random writes and discards (sector size %i)', async (S) => {
      for (const seed of [1, 2, 3]) {
        const sectors = 64;
        const image = new Uint8Array(sectors * S);
        const fp = k.fingerprint(S);
        expect(fp.value()).toBe(0n);
        run(fp, image, S, ops(S, sectors, 60, seed));
        expect(fp.value()).toBe(await reference(image, S));
        fp.dispose();
      }
    });

    it('depends only on content: order, zero writes versus discards, and undo', () => {
      const S = 512;
      const a = noise(4 * S, 11);
      const b = noise(2 * S, 12);
      const one = k.fingerprint(S);
      one.write(10, a);
      one.write(100, b);
      one.write(12, new Uint8Array(2 * S)); // zero the last two sectors of a by writing
      const two = k.fingerprint(S);
      two.write(100, noise(2 * S, 13));
      two.write(100, b);
      two.write(10, a);
      two.zero(12, 2);
      expect(two.value()).toBe(one.value());
      two.zero(0, 2 ** 40); // a whole-device discard
      expect(two.value()).toBe(0n);
      one.dispose();
      two.dispose();
    });

    it('clones independently, grows past many sectors, and refuses partial sectors and use after dispose', () => {
      const S = 512;
      const fp = k.fingerprint(S);
      fp.write(0, noise(5000 * S, 21));
      const copy = fp.clone();
      fp.zero(100, 10);
      expect(copy.value()).not.toBe(fp.value());
      copy.zero(100, 10);
      expect(copy.value()).toBe(fp.value());
      fp.zero(0, 4990); // fewer sectors than the table holds: removed one by one
      copy.zero(0, 4990);
      expect(copy.value()).toBe(fp.value());
      expect(fp.value()).not.toBe(0n);
      expect(() => fp.write(0, new Uint8Array(100))).toThrow(/whole number of 512-byte sectors/);
      expect(() => k.fingerprint(1000)).toThrow(/sector size 1000 is not a power of two/);
      copy.dispose();
      fp.dispose();
      if (k.kind === 'wasm') expect(() => fp.value()).toThrow(/after dispose/);
    });
  });
});

describe('wasm and js agree', () => {
  it('on fingerprints of the same history', () => {
    for (const S of [512, 4096]) {
      const w = wasm.fingerprint(S);
      const j = jsKernels.fingerprint(S);
      for (let i = 0; i < 200; i++) {
        const data = noise(((i % 7) + 1) * S, i + 1);
        if (i % 4 === 0) data.fill(0, S);
        const sector = (i * 37) % 300;
        w.write(sector, data);
        j.write(sector, data);
        if (i % 9 === 0) {
          w.zero(sector + 3, 20);
          j.zero(sector + 3, 20);
        }
        expect(w.value()).toBe(j.value());
      }
      w.dispose();
      j.dispose();
    }
  });

  it('on crc32c and xxh64 of large random inputs', () => {
    const data = noise(3 * 1024 * 1024 + 5, 77);
    expect(wasm.crc32c(data)).toBe(jsKernels.crc32c(data));
    expect(wasm.xxh64(data, 5n)).toBe(jsKernels.xxh64(data, 5n));
  });
});

describe('loadKernels', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('falls back to TypeScript with LOGWRITES_NO_WASM=1, and caches', async () => {
    vi.stubEnv('LOGWRITES_NO_WASM', '1');
    vi.resetModules();
    const fresh = await import('../src/node/kernels.ts');
    const k = await fresh.loadNodeKernels();
    expect(k.kind).toBe('js');
    expect(await fresh.loadNodeKernels()).toBe(k);
  });
});

describe('in a real browser', () => {
  const missing = fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (missing) console.warn(`skipping the browser kernel test: ${missing}`);

  it.skipIf(missing)('the same loader instantiates the inlined wasm, with no network', async () => {
    const bundle = await esbuild.build({
      stdin: {
        contents: `import { loadKernels } from './src/kernels/load.ts';
          const k = await loadKernels();
          const fp = k.fingerprint(512);
          fp.write(3, new Uint8Array(512).fill(7));
          window.result = { kind: k.kind, crc: k.crc32c(new TextEncoder().encode('123456789')),
            xxh: k.xxh64(new Uint8Array(0)).toString(16), fp: fp.value().toString(16) };`,
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      loader: { '.wasm': 'binary' },
      logLevel: 'silent',
    });
    const browser = await launch();
    try {
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.addScriptTag({ type: 'module', content: bundle.outputFiles[0]!.text });
      const result = await (
        await page.waitForFunction(() => (window as { result?: unknown }).result, null, { timeout: 20_000 })
      ).jsonValue();
      const fp = jsKernels.fingerprint(512);
      fp.write(3, new Uint8Array(512).fill(7));
      expect(result).toEqual({ kind: 'wasm', crc: 0xe3069283, xxh: 'ef46db3751d8e999', fp: fp.value().toString(16) });
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
