// Bundles for Node (library, CLIs) and the browser; run by `npm install` (prepare).
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

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
  // replay-log as CommonJS: Node starts a CommonJS entry faster than an ES module (bin/ is CommonJS).
  esbuild.build({
    ...node,
    format: 'cjs',
    entryPoints: ['src/node/replay-log-main.ts'],
    outfile: 'dist/replay-log.cjs',
    banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    define: { 'import.meta.url': '__importMetaUrl' },
  }),
  esbuild.build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js' }),
]);

// The optional N-API addon for discards at device speed (src/node/zeroing.ts): built with the
// node-gyp npm ships, against the headers of the Node that runs this, when both are there. A
// failure only warns: without it, zeroing falls back to util-linux tools and writes of zeros.
function buildAddon() {
  const prefix = path.dirname(path.dirname(process.execPath));
  const gyp = process.env.npm_config_node_gyp ?? path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  const nodedir = existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
  const dir = 'src/node/addon';
  const r = existsSync(gyp) ? spawnSync(process.execPath, [gyp, 'rebuild', '--silent', ...nodedir, '-C', dir], { encoding: 'utf8' }) : undefined;
  if (r?.status === 0) copyFileSync(`${dir}/build/Release/native.node`, 'dist/native.node');
  else console.warn(`build: the optional native addon was not built (${r ? r.stderr.trim().split('\n').pop() : 'no node-gyp'}); discards fall back to util-linux tools and zero writes, --fsck to spawnSync`);
}
buildAddon();

// The viewer (web/ -> dist/web/): it must work opened straight from disk, where browsers refuse
// module scripts and worker scripts loaded from file:// URLs. So the page is one classic script
// with the worker's bundle (WebAssembly included) inlined as text, started from a blob: URL.
async function buildViewer() {
  const browser = { ...common, format: 'iife', platform: 'browser', minify: true };
  const worker = await esbuild.build({ ...browser, sourcemap: false, entryPoints: ['web/worker.ts'], write: false });
  await esbuild.build({
    ...browser,
    entryPoints: ['web/main.ts'],
    outfile: 'dist/web/viewer.js',
    define: { WORKER_SOURCE: JSON.stringify(worker.outputFiles[0].text) },
  });
  mkdirSync('dist/web', { recursive: true });
  for (const f of ['index.html', 'styles.css']) copyFileSync(`web/${f}`, `dist/web/${f}`);
}
await buildViewer();
