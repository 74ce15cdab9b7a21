// Bundles for Node (library, CLIs) and the browser; run by `npm install` (prepare).
import * as esbuild from 'esbuild';

// The WebAssembly kernels are inlined as bytes (src/kernels/wasm.ts), so no bundle fetches anything.
const common = {
  bundle: true,
  format: 'esm',
  sourcemap: true,
  target: 'es2022',
  logLevel: 'warning',
  loader: { '.wasm': 'binary' },
};
// CommonJS dependencies (commander) require node builtins; give the ESM bundle a require.
const node = {
  ...common,
  platform: 'node',
  target: 'node20',
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
};

await Promise.all([
  esbuild.build({ ...common, platform: 'neutral', entryPoints: ['src/index.ts'], outfile: 'dist/index.js' }),
  esbuild.build({ ...node, entryPoints: ['src/node/index.ts'], outfile: 'dist/node/index.js' }),
  esbuild.build({ ...node, entryPoints: ['src/node/replay-log-main.ts'], outfile: 'dist/replay-log.js' }),
  esbuild.build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' }),
]);
