#!/usr/bin/env node
// Runs a TypeScript benchmark: `node bench/run.mjs <name> [args...]` bundles bench/<name>.ts
// with esbuild (Node 20 cannot run TypeScript itself) and runs it with the given arguments.
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const [name, ...args] = process.argv.slice(2);
if (!name) {
  console.error('usage: node bench/run.mjs <name> [args...]   (bench/<name>.ts)');
  process.exit(1);
}
const here = path.dirname(fileURLToPath(import.meta.url));
// Inside the package, so that the bundle's external imports (commander, hash-wasm) resolve.
const outfile = path.join(
  here,
  '..',
  'node_modules',
  '.cache',
  'logwrites-bench',
  `${name.replace(/\W/g, '_')}-${process.pid}.mjs`,
);
await esbuild.build({
  entryPoints: [path.join(here, `${name}.ts`)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  loader: { '.wasm': 'binary' },
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
