// The package as its users get it: `npm pack`, the tarball installed into a fresh project, a
// strict TypeScript consumer compiled against its declarations, a Node replay of the sample it
// carries, and a browser consumer bundled by esbuild and run in Chromium. The README's Library
// examples are two of those consumers, taken from the README as they are written.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, launch } from './support/browser.ts';
import { ROOT, scratchDir, sha256File, zeroImage, type Manifest } from './support/fixtures.ts';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
  exports: Record<string, string | { types: string; default: string }>;
};
const SAMPLE = pkg.files.find((f) => f.startsWith('test/fixtures/kernel/'))!;
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const built = ['dist/lib/index.js', 'dist/types/index.d.ts', 'dist/cli.cjs'].find(
  (f) => !fs.existsSync(path.join(ROOT, f)),
);
if (built) console.warn(`skipping the package tests: ${built} is missing (npm run build)`);

/** The README's Library examples: each ```ts block there opens with `// <file>.ts: what it does`. */
function readmeExamples(): { files: Map<string, string>; nodeOutput: string } {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('\n## Library\n'),
    readme.indexOf('\n## ', readme.indexOf('\n## Library\n') + 1),
  );
  const files = new Map<string, string>();
  for (const [, code] of section.matchAll(/```ts\n([\s\S]*?)```/g))
    files.set(/^\/\/ (\S+\.ts):/.exec(code!)![1]!, code!);
  return { files, nodeOutput: /```text\n([\s\S]*?)```/.exec(section)![1]! };
}

// What a strict project sets, including what the sources themselves do not use.
const STRICT = {
  target: 'ES2022',
  strict: true,
  exactOptionalPropertyTypes: true,
  noPropertyAccessFromIndexSignature: true,
  noUncheckedIndexedAccess: true,
  verbatimModuleSyntax: true,
  skipLibCheck: false,
};

/** A consumer's own check that the three entries share one core, and that its sample replays to the kernel's device. */
const SAMPLE_CONSUMER = `// sample.ts
import { createHash } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import * as core from 'logwrites';
import * as node from 'logwrites/node';

const manifest = JSON.parse(readFileSync('node_modules/logwrites/${SAMPLE}/manifest.json', 'utf8')) as { device_size: number; final_device_sha256: string };
const source = node.openSource('log.img');
const reader = await core.LogReader.open(source);
writeFileSync('whole.img', '');
truncateSync('whole.img', manifest.device_size);
const target = node.openTarget('whole.img');
try {
  await core.replay(reader, target);
} finally {
  target.close();
  source.close();
}
const sha256 = createHash('sha256').update(readFileSync('whole.img')).digest('hex');
const bad = await node.LogReader.open(core.memorySource(new Uint8Array(4096))).catch((e: unknown) => e);
console.log(JSON.stringify({ matches: sha256 === manifest.final_device_sha256, sameClass: node.LogReader === core.LogReader, crossInstanceof: bad instanceof core.LogFormatError }));
`;

/** The browser entry in Node (its sources and targets need no DOM to load): the same classes again. */
const BROWSER_IDENTITY = `import * as core from 'logwrites';
import * as node from 'logwrites/node';
import * as browser from 'logwrites/browser';
console.log(JSON.stringify(browser.LogReader === core.LogReader && browser.LogFormatError === node.LogFormatError && browser.replay === node.replay));
`;

describe.skipIf(built)('the package, packed and installed', () => {
  const dir = scratchDir('package');
  const app = path.join(dir, 'app');
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, SAMPLE, 'manifest.json'), 'utf8')) as Manifest;
  const examples = readmeExamples();
  let packed: string[] = [];
  let installWarnings = '';

  beforeAll(() => {
    // The suite's pretest built dist/; npm pack's prepack would rebuild it under the test
    // files running beside this one, so it packs what is there.
    const [report] = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    ) as { filename: string; files: { path: string }[] }[];
    packed = report!.files.map((f) => f.path);
    fs.mkdirSync(app);
    fs.writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    // No dependencies to fetch: the install works offline, from the tarball alone.
    const install = spawnSync(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', path.join(dir, report!.filename)],
      { cwd: app, encoding: 'utf8' },
    );
    if (install.status !== 0) throw new Error(`npm install of the tarball failed: ${install.stderr}`);
    installWarnings = install.stderr;
    // TypeScript's declarations for Node, as a Node project has them (resolved from the repository).
    fs.mkdirSync(path.join(app, 'node_modules/@types'));
    fs.symlinkSync(path.join(ROOT, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
    fs.writeFileSync(
      path.join(app, 'log.img'),
      zlib.gunzipSync(fs.readFileSync(path.join(app, 'node_modules/logwrites', SAMPLE, 'log.img.gz'))),
    );
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('holds what the entry points, the CLIs and the demo need, and no source maps, wasm glue or sources', () => {
    for (const entry of Object.values(pkg.exports)) {
      for (const file of typeof entry === 'string' ? [entry] : [entry.types, entry.default])
        expect(packed).toContain(file.replace(/^\.\//, ''));
    }
    expect(packed).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'bin/logwrites.js',
        'bin/replay-log.js',
        'bin/package.json',
        'dist/cli.cjs',
        'dist/cli-main.cjs',
        'dist/cli-main.v8cache',
        'dist/replay-log.cjs',
        'dist/replay-log-main.cjs',
        'dist/replay-log-main.v8cache',
        'dist/web/index.html',
        `${SAMPLE}/log.img.gz`,
        `${SAMPLE}/manifest.json`,
      ]),
    );
    expect(
      packed.filter(
        (f) => f.endsWith('.map') || f.endsWith('.wasm') || f.startsWith('src/') || f === 'dist/logwrites.js',
      ),
    ).toEqual([]);
    expect(fs.readFileSync(path.join(app, 'node_modules/logwrites/LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) 2026 logwrites contributors\n/,
    );
  });

  it('installs with no dependencies and no install scripts to approve', () => {
    expect(fs.readdirSync(path.join(app, 'node_modules')).sort()).toEqual([
      '.bin',
      '.package-lock.json',
      '@types',
      'logwrites',
    ]);
    expect(installWarnings).not.toMatch(/install-scripts|prepare/);
  });

  it('compiles a strict Node consumer without DOM (the README example among it) and runs it as written', () => {
    fs.writeFileSync(path.join(app, 'replay.ts'), examples.files.get('replay.ts')!);
    fs.writeFileSync(path.join(app, 'sample.ts'), SAMPLE_CONSUMER);
    const tsconfig = {
      compilerOptions: {
        ...STRICT,
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022'],
        types: ['node'],
        outDir: 'out',
      },
      files: ['replay.ts', 'sample.ts'],
    };
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = spawnSync(process.execPath, [TSC, '-p', '.'], { cwd: app, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(execFileSync(process.execPath, ['out/replay.js'], { cwd: app, encoding: 'utf8' })).toBe(examples.nodeOutput);
    expect(JSON.parse(execFileSync(process.execPath, ['out/sample.js'], { cwd: app, encoding: 'utf8' }))).toEqual({
      matches: true,
      sameClass: true,
      crossInstanceof: true,
    });
    fs.writeFileSync(path.join(app, 'identity.mjs'), BROWSER_IDENTITY);
    expect(execFileSync(process.execPath, ['identity.mjs'], { cwd: app, encoding: 'utf8' }).trim()).toBe('true');
  }, 120_000);

  it('runs the demo from the installed package: every mark of the sample checked', () => {
    const r = spawnSync(path.join(app, 'node_modules/.bin/logwrites'), ['demo'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      `sample: a log the Linux kernel's dm-log-writes wrote while ext4 ran a workload (node_modules/logwrites/${SAMPLE})`,
    );
    for (const m of manifest.marks)
      expect(r.stdout).toMatch(new RegExp(`^mark ${m.name} .*entries \\d+\\.\\.\\d+`, 'm'));
    expect(r.stdout).toContain(`final device sha256 ${manifest.final_device_sha256} matches the kernel's data device`);
    expect(r.status).toBe(0);
  });

  const noBrowser = browserMissing();
  if (noBrowser) console.warn(`skipping the package's browser test: ${noBrowser}`);

  it.skipIf(noBrowser)(
    'compiles the README browser example strictly, bundles it with esbuild, and in Chromium it lists the marks and replays in memory to the CLI image',
    async () => {
      fs.writeFileSync(path.join(app, 'app.ts'), examples.files.get('app.ts')!);
      const tsconfig = {
        compilerOptions: {
          ...STRICT,
          module: 'ESNext',
          moduleResolution: 'Bundler',
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          types: [],
          noEmit: true,
        },
        files: ['app.ts'],
      };
      fs.writeFileSync(path.join(app, 'tsconfig.web.json'), JSON.stringify(tsconfig));
      const tsc = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.web.json'], { cwd: app, encoding: 'utf8' });
      expect(tsc.stdout + tsc.stderr).toBe('');
      await esbuild.build({
        absWorkingDir: app,
        entryPoints: ['app.ts'],
        bundle: true,
        outfile: 'app.js',
        logLevel: 'silent',
      });
      fs.writeFileSync(
        path.join(app, 'index.html'),
        '<!doctype html><meta charset="utf-8"><body><script src="app.js"></script></body>',
      );

      const cli = (...args: string[]) =>
        execFileSync(path.join(app, 'node_modules/.bin/logwrites'), args, { cwd: app, encoding: 'utf8' });
      const image = zeroImage(app, 'cli.img', manifest.device_size);
      cli('replay', 'log.img', image);
      const want = sha256File(image);
      const marks = (JSON.parse(cli('marks', '--json', 'log.img')) as { mark: string; entry: number }[]).map(
        (m) => `${m.entry} ${m.mark}`,
      );

      const browser = await launch();
      try {
        const page = await browser.context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`file://${path.join(app, 'index.html')}`);
        await page.setInputFiles('input[type=file]', path.join(app, 'log.img'));
        await page.waitForFunction(
          () => document.querySelector('pre')?.textContent?.includes('device sha256'),
          undefined,
          { timeout: 30_000 },
        );
        const lines = (await page.locator('pre').innerText()).trim().split('\n');
        expect(errors).toEqual([]);
        expect(lines.slice(0, -1)).toEqual(marks);
        expect(lines.at(-1)).toBe(`replayed ${manifest.nr_entries} entries: device sha256 ${want}`);
        expect(want).toBe(manifest.final_device_sha256);
      } finally {
        await browser.close();
      }
    },
    120_000,
  );
});
