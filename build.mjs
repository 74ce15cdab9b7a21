// Bundles for Node (library, CLIs) and the browser; run by `npm install` (prepare).
import * as esbuild from 'esbuild';

const common = { bundle: true, format: 'esm', sourcemap: true, target: 'es2022', logLevel: 'warning' };
const node = { ...common, platform: 'node', target: 'node20' };

await Promise.all([
  esbuild.build({ ...common, platform: 'neutral', entryPoints: ['src/index.ts'], outfile: 'dist/index.js' }),
  esbuild.build({ ...node, entryPoints: ['src/node/index.ts'], outfile: 'dist/node/index.js' }),
  esbuild.build({ ...node, entryPoints: ['src/node/replay-log-main.ts'], outfile: 'dist/replay-log.js' }),
  esbuild.build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/logwrites.js' }),
]);
