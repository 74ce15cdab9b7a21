import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // A .wasm import is its bytes, as esbuild's `binary` loader makes it in the bundles.
  plugins: [
    {
      name: 'wasm-binary',
      enforce: 'pre',
      load(id) {
        if (!id.endsWith('.wasm')) return null;
        const b64 = readFileSync(id).toString('base64');
        return `export default Uint8Array.from(atob(${JSON.stringify(b64)}), (c) => c.charCodeAt(0));`;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    // The run's own folder for stored entry indexes (test/support/global-setup.ts).
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    // A page under load (browser tests beside device tests on 2 cores) can take seconds to
    // repaint; expect.poll's default second made such tests flaky, not wrong.
    expect: { poll: { timeout: 15_000 } },
    hookTimeout: 120_000,
    // Tests that drive real block devices, FUSE or servers use fixed resources; files run in
    // parallel, tests within a file in order.
    pool: 'forks',
  },
});
