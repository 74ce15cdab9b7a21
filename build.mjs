// Bundles for Node (library, CLIs) and the browser, and the library's declarations; run by
// `npm install` in the repository (postprepare) and before packing (prepack).
import * as esbuild from 'esbuild';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import ts from 'typescript';

// One id per build, in the bundles and the replay-log client alike: the replay-log server
// serves clients of its own build only (src/node/replay-log/build-id.ts).
const BUILD_ID = randomUUID();
const buildId = { __LOGWRITES_BUILD__: JSON.stringify(BUILD_ID) };

// The WebAssembly kernels are inlined as bytes (src/kernels/wasm.ts), so no bundle fetches anything.
const common = {
  bundle: true,
  format: 'esm',
  target: 'es2022',
  logLevel: 'warning',
  loader: { '.wasm': 'binary' },
};
// CommonJS dependencies (commander) require node builtins; give the ESM bundle a require.
const node = {
  ...common,
  platform: 'node',
  target: 'node20',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
};

// The library's entry points (logwrites, logwrites/node, logwrites/browser) in one build: the
// code they share is split into chunks that each of them imports, so there is one copy of
// every class (logwrites/node's LogReader is logwrites' LogReader, and instanceof holds).
const LIBRARY = ['src/index.ts', 'src/node/index.ts', 'src/browser/index.ts'];
function buildLibrary() {
  rmSync('dist/lib', { recursive: true, force: true });
  return esbuild.build({
    ...common,
    platform: 'neutral',
    external: ['node:*'],
    splitting: true,
    entryPoints: LIBRARY,
    outbase: 'src',
    outdir: 'dist/lib',
    chunkNames: 'chunks/[name]-[hash]',
  });
}

/**
 * The entry points' declarations, from the sources' own types and doc comments (tsconfig.json's
 * settings; `tsc --noEmit` checks them, so this step does not check again). The sources import
 * `./x.ts`, which tsc keeps in declarations (rewriteRelativeImportExtensions leaves .d.ts alone);
 * a consumer without allowImportingTsExtensions needs `./x.js`, which resolves to `./x.d.ts`.
 */
function emitDeclarations(entries, outDir) {
  rmSync(outDir, { recursive: true, force: true });
  const { config } = ts.readConfigFile('tsconfig.json', ts.sys.readFile);
  const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, '.');
  const program = ts.createProgram([...entries, 'src/kernels/wasm-binary.d.ts'], {
    ...options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    noCheck: true,
    rootDir: 'src',
    outDir,
  });
  const rewrite = (text) => text.replace(/(from |import\()(['"])(\.{1,2}\/[^'"]*)\.ts\2/g, '$1$2$3.js$2');
  const { diagnostics } = program.emit(undefined, (file, text) => {
    mkdirSync(file.slice(0, file.lastIndexOf('/')), { recursive: true });
    writeFileSync(file, rewrite(text));
  });
  if (diagnostics.length)
    throw new Error(
      ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => '.',
        getNewLine: () => '\n',
      }),
    );
}

/**
 * The CLIs as CommonJS: Node starts a CommonJS entry faster than an ES module (bin/ is
 * CommonJS), and a CLI's process does one command. dist/replay-log.cjs and dist/cli.cjs
 * (src/node/replay-log/start.ts, src/cli/start.ts) run the bundles dist/replay-log-main.cjs
 * and dist/cli-main.cjs with their code caches (src/node/code-cache.ts). Two start-up costs of
 * esbuild's CommonJS output are taken out: a namespace import of a built-in (`import * as fs`)
 * becomes a copy of all its properties (__toESM, about 100 defineProperty calls per import),
 * where the module itself serves, as no default import is used; and in replay-log,
 * import.meta.url (only createRequire's argument there, which takes a path) is the file's path
 * rather than a URL built at start. The `logwrites` CLI finds its files by URL (the viewer's
 * page, the demo's sample), so it gets the URL.
 */
const REPLAY_LOG_MAIN = 'dist/replay-log-main.cjs';
const CLI_MAIN = 'dist/cli-main.cjs';
async function buildCommonJs(entry, outfile, { fileUrl = false } = {}) {
  const out = await esbuild.build({
    ...node,
    banner: fileUrl ? { js: 'const __fileUrl = require("node:url").pathToFileURL(__filename).href;' } : {},
    format: 'cjs',
    entryPoints: [entry],
    outfile,
    define: { 'import.meta.url': fileUrl ? '__fileUrl' : '__filename', ...buildId },
    write: false,
  });
  let text = out.outputFiles[0].text;
  const namespaces = [...text.matchAll(/var (\w+) = __toESM\(require\("(node:\w+)"\), 1\);/g)];
  for (const [, name] of namespaces) {
    if (text.includes(`${name}.default`))
      throw new Error(`build: ${entry} uses the default export of a built-in (${name}); keep esbuild's __toESM for it`);
  }
  text = text.replace(/__toESM\(require\("(node:\w+)"\), 1\)/g, 'require("$1")');
  writeFileSync(outfile, text);
}
const buildReplayLog = () =>
  Promise.all([
    buildCommonJs('src/node/replay-log/main.ts', REPLAY_LOG_MAIN),
    buildCommonJs('src/node/replay-log/start.ts', 'dist/replay-log.cjs'),
  ]);

/** The `logwrites` CLI: dist/cli.cjs, its bundle and code cache (buildCommonJs says why). */
function buildCli() {
  // What earlier builds made: the CLI as ES module chunks.
  rmSync('dist/cli', { recursive: true, force: true });
  rmSync('dist/cli.js', { force: true });
  return Promise.all([
    buildCommonJs('src/cli/main.ts', CLI_MAIN, { fileUrl: true }),
    buildCommonJs('src/cli/start.ts', 'dist/cli.cjs'),
  ]);
}

await Promise.all([buildLibrary(), emitDeclarations(LIBRARY, 'dist/types'), buildReplayLog(), buildCli()]);

// The optional N-API addon for discards at device speed (src/node/io/zeroing.ts): built with the
// node-gyp npm ships, against the headers of the Node that runs this, when both are there. A
// failure only warns: without it, zeroing falls back to util-linux tools and writes of zeros.
function buildAddon() {
  const prefix = path.dirname(path.dirname(process.execPath));
  const gyp =
    process.env.npm_config_node_gyp ?? path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  const nodedir = existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
  const dir = 'src/node/addon';
  const r = existsSync(gyp)
    ? spawnSync(process.execPath, [gyp, 'rebuild', '--silent', ...nodedir, '-C', dir], { encoding: 'utf8' })
    : undefined;
  if (r?.status === 0) copyFileSync(`${dir}/build/Release/native.node`, 'dist/native.node');
  else
    console.warn(
      `build: the optional native addon was not built (${r ? r.stderr.trim().split('\n').pop() : 'no node-gyp'}); discards fall back to util-linux tools and zero writes, --fsck to spawnSync`,
    );
}
buildAddon();

// replay-log's native front (src/node/replay-log/client.c), which hands calls to a running
// replay-log server, else runs Node with dist/replay-log.cjs beside it. Linked statically
// where the C library allows: xfstests starts it once per call, and dynamic linking cost
// 0.3-0.7 ms of its ~1.5 ms. Without a compiler, there is no front; bin/replay-log.js serves.
function buildClient() {
  const cc = process.env.CC ?? 'cc';
  const args = [
    '-O2',
    '-Wall',
    `-DLWRL_BUILD="${BUILD_ID}"`,
    `-DLWRL_NODE="${process.execPath}"`,
    `-DLWRL_DIST="${path.resolve('dist')}"`,
    '-o',
    'dist/replay-log',
    'src/node/replay-log/client.c',
  ];
  const compile = (extra) => spawnSync(cc, [...extra, ...args], { encoding: 'utf8' });
  let r = compile(['-static']);
  if (r.status !== 0) r = compile([]);
  if (r.status !== 0)
    console.warn(
      `build: replay-log's native front was not built (${r.error?.message ?? r.stderr.trim().split('\n').pop()}); bin/replay-log.js runs every call in its own Node`,
    );
}
buildClient();

// The CLIs' code caches (src/node/code-cache.ts), made by sample calls on the bundled sample,
// each adding what it compiles to the cache the ones before made. replay-log's are xfstests'
// kinds of call (a replay to a point with -vv, then a find); the CLI's, a replay, info and
// list. Without a cache, each call compiles its bundle.
function makeCodeCaches() {
  const sample = 'test/fixtures/kernel/ext4-fsync-many';
  const dir = mkdtempSync(path.join(tmpdir(), 'logwrites-build-'));
  try {
    const log = path.join(dir, 'log.img');
    const image = path.join(dir, 'image');
    writeFileSync(log, gunzipSync(readFileSync(`${sample}/log.img.gz`)));
    writeFileSync(image, '');
    truncateSync(image, JSON.parse(readFileSync(`${sample}/manifest.json`, 'utf8')).device_size);
    const caches = [
      [
        'dist/replay-log.cjs',
        REPLAY_LOG_MAIN,
        [
          ['-vv', '--log', log, '--replay', image, '--limit', '1000'],
          ['--find', '--log', log, '--next-fua', '--start-entry', '1000'],
        ],
      ],
      [
        'dist/cli.cjs',
        CLI_MAIN,
        [
          ['replay', log, image, '--json'],
          ['info', log],
          ['list', log],
        ],
      ],
    ];
    for (const [start, bundle, calls] of caches) {
      // code-cache.ts's cacheOf: the bundle's name with .v8cache for .cjs.
      const cache = bundle.replace(/\.cjs$/, '.v8cache');
      rmSync(cache, { force: true });
      const env = { ...process.env, LOGWRITES_CODE_CACHE_OUT: cache, LOGWRITES_CACHE: 'off' };
      for (const args of calls) {
        const r = spawnSync(process.execPath, [start, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
        if (r.status !== 0) throw new Error(`${start} ${args.join(' ')}: ${r.stderr.trim()}`);
      }
    }
  } catch (e) {
    console.warn(`build: a code cache was not made (${e.message}); each call compiles its bundle`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
makeCodeCaches();

// The viewer (web/ -> dist/web/): it must work opened straight from disk, where browsers refuse
// module scripts and worker scripts loaded from file:// URLs. So the page is one classic script
// with the worker's bundle (WebAssembly included) inlined as text, started from a blob: URL.
async function buildViewer() {
  const browser = { ...common, format: 'iife', platform: 'browser', minify: true };
  const worker = await esbuild.build({ ...browser, entryPoints: ['web/worker.ts'], write: false });
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
