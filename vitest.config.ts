import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests that drive real block devices, FUSE or servers use fixed resources; files run in
    // parallel, tests within a file in order.
    pool: 'forks',
  },
});
