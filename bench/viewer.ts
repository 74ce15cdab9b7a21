// bench/viewer: the viewer in headless Chromium on a generated 1 GiB log of 4 KiB writes.
// Measures, from the moment the file is chosen: the summary first shown, the full index in;
// the renderer processes' memory after indexing; and, as the physical limit, reading the same
// Blob end to end in the page (8 MiB slices, as the reader does) and `cat` of the file. Then
// the same log through `logwrites view` (HTTP range requests), and in a 420 px wide window
// (the narrow layout), each timed from the page's start to the index in and the timeline drawn;
// the HTTP path's limit is the log fetched end to end in the page, in the source's ranges.
// Each run also says where the CPU went while indexing, by process and thread (the server is
// this process), which is what told the HTTP path's extra time apart.
//
//   node bench/run.mjs viewer [GiB=1] [runs=3]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeHeader, encodeSuper, Flag } from '../src/format.ts';
import { startViewer } from '../src/node/view/server.ts';
import { browserMissing, launch } from '../test/support/browser.ts';

// Run from the repository root (the bundle runs from a temporary folder).
const VIEWER = path.resolve('dist/web/index.html');
const SHOTS = path.resolve('test-output/web');

const gib = Number(process.argv[2] ?? 1);
const runs = Number(process.argv[3] ?? 3);
const S = 512;
const WRITE = 4096;

/** A log of 4 KiB writes covering `gib` GiB of device, with a FUA every 64, a FLUSH every 256 and a mark every 16384. */
function generate(file: string): number {
  const n = Math.round((gib * 2 ** 30) / WRITE);
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(8 << 20);
  let used = 0;
  let at = 0;
  const put = (b: Uint8Array) => {
    if (used + b.length > buf.length) {
      fs.writeSync(fd, buf, 0, used, at);
      at += used;
      used = 0;
    }
    buf.set(b, used);
    used += b.length;
  };
  put(encodeSuper({ nrEntries: n, sectorSize: S }));
  const payload = new Uint8Array(WRITE);
  for (let i = 0; i < n; i++) {
    if (i % 16384 === 16383) put(encodeHeader({ sector: 0, nrSectors: 0, flags: Flag.MARK, mark: `m${i}` }, S));
    else {
      const flags = (i % 64 === 63 ? Flag.FUA : 0) | (i % 256 === 255 ? Flag.FLUSH : 0);
      put(encodeHeader({ sector: ((i * 7919) % n) * (WRITE / S), nrSectors: WRITE / S, flags }, S));
      payload.fill(i & 0xff);
      put(payload);
    }
  }
  fs.writeSync(fd, buf, 0, used, at);
  fs.closeSync(fd);
  return n;
}

/** The processes under this one (the browser's) and this one (the server), with their command lines. */
function myProcesses(): { pid: number; cmdline: string }[] {
  const parent = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone already.
    }
  }
  const mine = (pid: number) => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = parent.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  const out: { pid: number; cmdline: string }[] = [];
  for (const pid of parent.keys()) {
    try {
      if (mine(pid)) out.push({ pid, cmdline: fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') });
    } catch {
      // Gone already.
    }
  }
  return out;
}

/** RSS of the renderer processes under this process (the page and its workers live there). */
function rendererRss(): number {
  let total = 0;
  for (const { pid, cmdline } of myProcesses()) {
    try {
      if (cmdline.includes('--type=renderer'))
        total += Number(/RssAnon:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    } catch {
      // Gone already.
    }
  }
  return total;
}

/**
 * CPU time so far of every thread of the browser and of this process (which serves the log),
 * in ms, by thread id and named by process kind and thread name ("renderer/DedicatedWorker").
 */
function cpuByThread(): Map<string, number> {
  const ms = new Map<string, number>();
  const kind = (cmdline: string) =>
    /--utility-sub-type=network/.test(cmdline)
      ? 'network'
      : (/--type=([\w-]+)/.exec(cmdline)?.[1] ??
        (cmdline.includes('chromium') ? 'browser' : 'node (server, playwright)'));
  for (const { pid, cmdline } of [{ pid: process.pid, cmdline: '' }, ...myProcesses()]) {
    try {
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
        // utime + stime, in clock ticks of 10 ms.
        ms.set(`${kind(cmdline)}/${name}#${tid}`, (Number(f[11]) + Number(f[12])) * 10);
      }
    } catch {
      // Gone already.
    }
  }
  return ms;
}

/** Where the CPU went between two cpuByThread() snapshots: the busiest thread kinds, and the total. */
function cpuSpent(before: Map<string, number>, after: Map<string, number>): string {
  const by = new Map<string, number>();
  for (const [key, t] of after) {
    const name = key.slice(0, key.lastIndexOf('#'));
    by.set(name, (by.get(name) ?? 0) + t - (before.get(key) ?? 0));
  }
  const rows = [...by].filter(([, t]) => t >= 100).sort((a, b) => b[1] - a[1]);
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  return `${(total / 1000).toFixed(1)} s: ${rows.map(([n, t]) => `${n} ${(t / 1000).toFixed(2)}`).join(', ')}`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (b: number) => b / 2 ** 20;

async function main() {
  const missing = browserMissing(VIEWER);
  if (missing) {
    console.error(`bench/viewer: ${missing}`);
    process.exit(1);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logwrites-bench-viewer-'));
  const file = path.join(dir, 'bench.log');
  try {
    const n = generate(file);
    const size = fs.statSync(file).size;
    console.log(`log: ${n} entries of ${WRITE} bytes, ${mib(size).toFixed(0)} MiB, sectorsize ${S}`);
    const browser = await launch();
    const cat: number[] = [];
    const summary: number[] = [];
    const indexed: number[] = [];
    const blob: number[] = [];
    const rss: number[] = [];
    const base: number[] = [];
    const http: number[] = [];
    const httpRss: number[] = [];
    const httpFetch: number[] = [];
    const narrow: number[] = [];
    const narrowDrawn: number[] = [];
    /** Per run, the CPU the indexing took by thread kind: the HTTP path's extra work shows where it is. */
    const cpu = { picker: [] as string[], http: [] as string[] };
    const viewer = await startViewer({ root: path.dirname(VIEWER), log: file });
    fs.mkdirSync(SHOTS, { recursive: true });
    /** From the log chosen (or, over HTTP, the page asking for it) to the index in and the timeline drawn. */
    const timings = (page: import('playwright-core').Page) =>
      page.evaluate(() => {
        const at = (name: string) => performance.getEntriesByName(`logwrites:${name}`)[0]!.startTime;
        return { indexed: at('indexed') - at('chosen'), drawn: at('plotted') - at('chosen') };
      });
    try {
      for (let r = 0; r < runs; r++) {
        const t = process.hrtime.bigint();
        spawnSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] });
        cat.push(Number(process.hrtime.bigint() - t) / 1e6);

        const page = await browser.context.newPage();
        await page.goto(`file://${VIEWER}`);
        await page.waitForTimeout(300);
        base.push(rendererRss());
        const pickerCpu = cpuByThread();
        await page.setInputFiles('#file', file);
        await page.waitForSelector('body[data-state=ready]', { timeout: 120_000 });
        cpu.picker.push(cpuSpent(pickerCpu, cpuByThread()));
        const marks = await page.evaluate(() => {
          const at = (name: string) => performance.getEntriesByName(name)[0]!.startTime;
          return { chosen: at('logwrites:chosen'), summary: at('logwrites:summary'), indexed: at('logwrites:indexed') };
        });
        summary.push(marks.summary - marks.chosen);
        indexed.push(marks.indexed - marks.chosen);
        await page.waitForTimeout(500);
        rss.push(rendererRss());
        // The same Blob read end to end in the page, in the reader's 8 MiB slices.
        await page.evaluate(() => {
          const input = document.createElement('input');
          input.type = 'file';
          input.id = 'bench-file';
          document.body.append(input);
        });
        await page.setInputFiles('#bench-file', file);
        blob.push(
          await page.evaluate(async () => {
            const f = (document.getElementById('bench-file') as HTMLInputElement).files![0]!;
            const t0 = performance.now();
            let sum = 0;
            for (let at = 0; at < f.size; at += 8 << 20)
              sum += (await f.slice(at, at + (8 << 20)).arrayBuffer()).byteLength;
            if (sum !== f.size) throw new Error('short read');
            return performance.now() - t0;
          }),
        );
        await page.close();

        const overHttp = await browser.context.newPage();
        const httpCpu = cpuByThread();
        await overHttp.goto(viewer.url);
        await overHttp.waitForSelector('body[data-state=ready]', { timeout: 120_000 });
        cpu.http.push(cpuSpent(httpCpu, cpuByThread()));
        await overHttp.waitForFunction(() => performance.getEntriesByName('logwrites:plotted').length > 0);
        http.push((await timings(overHttp)).indexed);
        // What the page shows of this log, for a human to look at.
        if (r === 0) await overHttp.screenshot({ path: path.join(SHOTS, 'bench-1280.png') });
        await overHttp.waitForTimeout(500);
        httpRss.push(rendererRss());
        // The HTTP path's limit: the same log fetched end to end in the page, in the source's
        // 32 MiB ranges, two in flight, each read into one buffer as the source reads them (a
        // BYOB reader), nothing parsed.
        const logUrl = new URL(viewer.url).searchParams.get('log')!;
        httpFetch.push(
          await overHttp.evaluate(
            async ([url, size]) => {
              const t0 = performance.now();
              let next = 0;
              let sum = 0;
              const one = async () => {
                for (let at = next; at < size; at = next) {
                  next += 32 << 20;
                  const end = Math.min(size, at + (32 << 20));
                  const body = (await fetch(url, { headers: { Range: `bytes=${at}-${end - 1}` } })).body!.getReader({
                    mode: 'byob',
                  });
                  let buffer = new ArrayBuffer(end - at);
                  for (let got = 0; got < buffer.byteLength; ) {
                    const { value } = await body.read(new Uint8Array(buffer, got));
                    if (!value?.length) break;
                    [buffer, got, sum] = [value.buffer as ArrayBuffer, got + value.length, sum + value.length];
                  }
                }
              };
              await Promise.all([one(), one()]);
              if (sum !== size) throw new Error('short read');
              return performance.now() - t0;
            },
            [logUrl, size] as const,
          ),
        );
        await overHttp.close();

        const small = await browser.context.newPage();
        await small.setViewportSize({ width: 420, height: 900 });
        await small.goto(`file://${VIEWER}`);
        await small.setInputFiles('#file', file);
        await small.waitForSelector('body[data-state=ready]', { timeout: 120_000 });
        await small.waitForFunction(() => performance.getEntriesByName('logwrites:plotted').length > 0);
        const t420 = await timings(small);
        narrow.push(t420.indexed);
        narrowDrawn.push(t420.drawn - t420.indexed);
        if (r === 0) await small.locator('#plot-panel').screenshot({ path: path.join(SHOTS, 'bench-420-plot.png') });
        await small.close();
        console.log(
          `run ${r + 1}: summary ${summary[r]!.toFixed(0)} ms, index ${indexed[r]!.toFixed(0)} ms, renderer anon RSS ${mib(rss[r]!).toFixed(0)} MiB (${mib(base[r]!).toFixed(0)} before opening), Blob read ${blob[r]!.toFixed(0)} ms, cat ${cat[r]!.toFixed(0)} ms; over HTTP index ${http[r]!.toFixed(0)} ms (${mib(httpRss[r]!).toFixed(0)} MiB), fetch ${httpFetch[r]!.toFixed(0)} ms; 420 px index ${narrow[r]!.toFixed(0)} ms, timeline drawn ${narrowDrawn[r]!.toFixed(0)} ms later`,
        );
      }
    } finally {
      await browser.close();
      await viewer.close();
    }
    const ix = median(indexed);
    const rate = (ms: number) => `${(mib(size) / (ms / 1000)).toFixed(0)} MiB/s`;
    console.log(`\nmedians of ${runs} runs (${mib(size).toFixed(0)} MiB log, ${n} entries):`);
    console.log(`  file chosen -> summary shown   ${median(summary).toFixed(0)} ms`);
    console.log(
      `  file chosen -> full index      ${ix.toFixed(0)} ms  (${rate(ix)}, ${((n / ix) * 1000).toFixed(0)} entries/s; target < 3000 ms)`,
    );
    console.log(
      `  renderer memory after index    ${mib(median(rss)).toFixed(0)} MiB anonymous RSS (page + worker; target < 200 MB), ${mib(median(base)).toFixed(0)} MiB before opening`,
    );
    console.log(`  Blob read end to end in page   ${median(blob).toFixed(0)} ms  (${rate(median(blob))})`);
    console.log(`  cat of the file                ${median(cat).toFixed(0)} ms  (${rate(median(cat))})`);
    console.log(`  index / Blob read              ${(ix / median(blob)).toFixed(2)}x`);
    console.log(`  index / cat                    ${(ix / median(cat)).toFixed(2)}x`);
    console.log(
      `  over logwrites view (HTTP)     ${median(http).toFixed(0)} ms  (${(median(http) / ix).toFixed(2)}x the file picker; target < 1.5x), renderer memory ${mib(median(httpRss)).toFixed(0)} MiB`,
    );
    console.log(
      `  HTTP fetch end to end in page  ${median(httpFetch).toFixed(0)} ms  (${rate(median(httpFetch))}; ${(median(httpFetch) / ix).toFixed(2)}x the file picker's index; index over HTTP / fetch ${(median(http) / median(httpFetch)).toFixed(2)}x)`,
    );
    console.log(
      `  420 px window: full index      ${median(narrow).toFixed(0)} ms, timeline drawn ${median(narrowDrawn).toFixed(0)} ms after`,
    );
    console.log(
      `  load average (1, 5, 15 min)    ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')} on ${os.cpus().length} cores`,
    );
    console.log(`\nCPU while indexing, by thread (s; each run):`);
    for (let r = 0; r < runs; r++) console.log(`  file picker ${cpu.picker[r]}\n  over HTTP   ${cpu.http[r]}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
