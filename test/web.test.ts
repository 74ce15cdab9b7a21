// The viewer in a real browser (Debian's Chromium, headless): a kernel log opened through the
// file picker must show what the CLI computes, and an image replayed and downloaded in the
// page must equal a replay by the core onto a file. Screenshots of each panel go to
// test-output/web/ for a human to look at.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogReader } from '../src/reader.ts';
import { replay } from '../src/replay/loop.ts';
import { openSource } from '../src/node/io/file.ts';
import { openTarget } from '../src/node/io/target.ts';
import { startViewer } from '../src/node/view/server.ts';
import { browserMissing, launch, SHOTS, VIEWER, type Browser } from './support/browser.ts';
import { KERNEL_FIXTURES, kernelLog, manifest, ROOT, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';
import { oracleRead } from './support/oracle.ts';

const missing = browserMissing();
if (missing) console.warn(`skipping the browser tests: ${missing}`);

const NAME = 'ext4-512';
const log = kernelLog(NAME);
const m = manifest(NAME);

function cli<T>(...args: string[]): T[] {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`logwrites ${args.join(' ')}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as T);
}

const int = (n: number) => n.toLocaleString('en-US');

describe.skipIf(missing)('the viewer in Chromium', () => {
  const dir = scratchDir('web');
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${VIEWER}`);
  });
  afterAll(async () => {
    await browser?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const shot = (name: string, selector?: string) =>
    selector
      ? page.locator(selector).screenshot({ path: path.join(SHOTS, `${name}.png`) })
      : page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  const text = (selector: string) => page.locator(selector).innerText();
  const markEntry = (name: string) =>
    cli<{ mark: string; entry: number }[]>('marks', '--json', log)[0]!.find((k) => k.mark === name)!.entry;

  it('opens from disk and shows the welcome page', async () => {
    await expect(page.locator('.drop-target h2').innerText()).resolves.toMatch(/Drop a dm-log-writes log/);
    await shot('welcome');
  });

  it('loads a kernel log through the file picker: summary and marks as the CLI computes them', async () => {
    await page.setInputFiles('#file', log);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
    const [info] = cli<{ entries: number; trailingEntries: number; marks: number; flagCounts: Record<string, number> }>(
      'info',
      '--json',
      log,
    );
    expect(await text('[data-k=entries]')).toBe(int(info!.entries));
    expect(await text('[data-k=trailing]')).toBe(int(info!.trailingEntries));
    expect(await text('[data-k=marks]')).toBe(int(info!.marks));
    for (const [flag, n] of Object.entries(info!.flagCounts)) expect(await text(`[data-k=${flag}]`)).toBe(int(n));
    const [marks] = cli<{ mark: string; entry: number }[]>('marks', '--json', log);
    const shown = await page.$$eval('#marks li', (lis) =>
      lis.map((li) => ({
        entry: Number((li as HTMLElement).dataset.entry),
        text: li.querySelector('.t')!.textContent,
      })),
    );
    expect(shown).toEqual(marks!.map((k) => ({ entry: k.entry, text: k.mark })));
    expect(await page.locator('#progress').isHidden()).toBe(true);
    await shot('loaded');
    await shot('summary', '#summary-panel');
    await shot('marks', '#marks-panel');
  });

  it('jumps the table, the plot and the inspector to a mark', async () => {
    const at = markEntry('many');
    await page.locator(`#marks li[data-entry="${at}"]`).click();
    await expect(text('#insp-index')).resolves.toBe(int(at));
    await expect(text('#insp-mark')).resolves.toBe('many');
    const row = page.locator(`.rows .row.selected[data-entry="${at}"]`);
    await expect(row.isVisible()).resolves.toBe(true);
    await expect(page.locator('#marks li.selected').getAttribute('data-entry')).resolves.toBe(String(at));
    await shot('timeline', '#plot-panel');
  });

  it('sums up the step each mark ends, in the list and as a table, reachable by keyboard', async () => {
    const { entries } = oracleRead(log);
    const marks = entries.filter((e) => e.mark !== undefined);
    const lines = await page.$$eval('#marks li .step', (s) => s.map((x) => x.textContent));
    expect(lines.length).toBe(marks.length);
    marks.forEach((mk, k) => {
      const step = entries.slice(k ? marks[k - 1]!.index + 1 : 0, mk.index + 1);
      const writes = step.filter((e) => !(e.flags & 4) && e.nrSectors > 0).length;
      const flushes = step.filter((e) => e.flags & 1).length;
      expect(lines[k]).toMatch(
        new RegExp(
          `^${int(step.length)} entr(y|ies) · ${int(writes)} writes? [\\d.]+ (bytes|KiB|MiB)${flushes ? ` · ${flushes} FLUSH` : ''}`,
        ),
      );
    });
    await page.locator('#marks li').first().focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await expect.poll(() => text('#insp-index')).toBe(int(marks[1]!.index));
    await page.locator('#steps-toggle').click();
    expect(await page.locator('#marks').isHidden()).toBe(true);
    const rows = await page.$$eval('#steps-table tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent)),
    );
    expect(rows.map((r) => r[0])).toEqual(marks.map((e) => e.mark));
    expect(rows[1]![1]).toBe(`${int(marks[0]!.index + 1)}–${int(marks[1]!.index)}`);
    await shot('steps-table', '#marks-panel');
    await page.locator('#steps-table tbody tr').nth(2).click();
    await expect.poll(() => text('#insp-index')).toBe(int(marks[2]!.index));
    await page.locator('#steps-toggle').click();
    expect(await page.locator('#marks').isVisible()).toBe(true);
  });

  it('timeline: keys zoom and pan, Shift+drag selects a range with its totals, layers hide', async () => {
    const canvas = page.locator('#plot-canvas');
    const win = () => canvas.evaluate((c) => ({ x0: Number(c.dataset.x0), x1: Number(c.dataset.x1) }));
    await canvas.focus();
    await page.keyboard.press('0');
    await expect.poll(async () => (await win()).x1).toBe(m.nr_entries);
    await page.keyboard.press('+');
    await page.keyboard.press('+');
    await expect.poll(async () => (await win()).x1 - (await win()).x0).toBeLessThan(m.nr_entries / 2);
    const zoomed = await win();
    await page.keyboard.press('ArrowRight');
    await expect.poll(async () => (await win()).x0).toBeGreaterThan(zoomed.x0);
    await page.keyboard.press('0');
    await expect.poll(async () => (await win()).x0).toBe(0);
    // Shift+drag across the middle half of the plot.
    const b = (await canvas.boundingBox())!;
    await page.keyboard.down('Shift');
    await page.mouse.move(b.x + b.width * 0.3, b.y + b.height / 2);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.6, b.y + b.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    const sel = await text('#plot-selection');
    const [, from, to] = /^selected entries ([\d,]+)–([\d,]+) /.exec(sel)!.map((x) => x.replace(/,/g, '')) as [
      string,
      string,
      string,
    ];
    const range = oracleRead(log).entries.slice(Number(from), Number(to) + 1);
    expect(sel).toContain(
      `FLUSH ${range.filter((e) => e.flags & 1).length} · FUA ${range.filter((e) => e.flags & 2).length}`,
    );
    expect(sel).toContain(`${int(range.filter((e) => !(e.flags & 4) && e.nrSectors > 0).length)} write`);
    await shot('timeline-selection', '#plot-panel');
    await page.locator('#plot-zoom-selection').click();
    await expect.poll(async () => (await win()).x1 - (await win()).x0).toBeLessThan(m.nr_entries / 2);
    await canvas.focus();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#plot-zoom-selection').isDisabled()).toBe(true);
    await page.locator('#legend [data-layer=flush]').click();
    await expect(page.locator('#legend [data-layer=flush]').getAttribute('aria-pressed')).resolves.toBe('false');
    await expect.poll(() => text('#plot-notes')).not.toContain('durable prefix');
    await page.locator('#legend [data-layer=flush]').click();
    await expect.poll(() => text('#plot-notes')).toContain('durable prefix');
    await canvas.dblclick();
  });

  it('timeline: colours by structure, the legend then lists the classes, each toggleable', async () => {
    await page.locator('#plot-colour').selectOption('structure');
    await expect.poll(() => page.locator('#legend [data-layer=journal]').count()).toBe(1);
    const legend = await page
      .locator('#legend .layer')
      .evaluateAll((bs) => bs.map((b) => b.getAttribute('data-layer')));
    expect(legend).toEqual([
      'superblock',
      'group',
      'bitmap',
      'inodes',
      'journal',
      'btree',
      'directory',
      'data',
      'unknown',
      'flush',
      'mark',
    ]);
    await page.locator('#legend [data-layer=data]').click();
    await expect(page.locator('#legend [data-layer=data]').getAttribute('aria-pressed')).resolves.toBe('false');
    await page.locator('#legend [data-layer=data]').click();
    await shot('timeline-structure', '#plot-panel');
    await page.locator('#plot-colour').selectOption('flag');
    await expect.poll(() => page.locator('#legend [data-layer=fua]').count()).toBe(1);
    await expect(page.locator('#legend [data-layer=journal]').count()).resolves.toBe(0);
    // A log with no file system on its device: the mode says so and stays by flag.
    await page.setInputFiles('#file', path.join(ROOT, 'test/fixtures/regressions/write-far.log'));
    await page.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
    await page.locator('#plot-colour').selectOption('structure');
    await expect
      .poll(() => text('#plot-notes'))
      .toContain('no file system recognised on the device: colouring by flag');
    await expect(page.locator('#plot-colour').inputValue()).resolves.toBe('flag');
    await expect(page.locator('#legend [data-layer=fua]').count()).resolves.toBe(1);
    await page.setInputFiles('#file', log);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
    await expect.poll(() => text('#plot-notes')).not.toContain('no file system');
    expect(errors).toEqual([]);
  });

  it('filters FUA entries and walks them with the keyboard', async () => {
    await page.locator('#flag-filter label', { hasText: 'FUA' }).click();
    await expect.poll(() => text('#row-count')).toBe(`${int(m.flag_counts.FUA!)} of ${int(m.nr_entries)} entries`);
    const flags = await page.$$eval('.rows .row:not([hidden]) span:nth-child(3)', (s) => s.map((x) => x.textContent));
    expect(flags.length).toBeGreaterThan(3);
    for (const f of flags) expect(f).toMatch(/FUA/);
    await page.locator('#viewport').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    const second = Number(await page.locator('.rows .row:not([hidden])').nth(1).getAttribute('data-entry'));
    await expect.poll(() => text('#insp-index')).toBe(int(second));
    await shot('entries-fua', '#table-panel');
    // A new filter starts the table at the top, not at the old scroll position.
    await page.locator('#flag-filter label', { hasText: 'FUA' }).click();
    await page.locator('#viewport').evaluate((v) => (v.scrollTop = 2000));
    await page.locator('#flag-filter label', { hasText: 'METADATA' }).click();
    await expect.poll(() => page.locator('#viewport').evaluate((v) => v.scrollTop)).toBe(0);
    await page.locator('#flag-filter label', { hasText: 'METADATA' }).click();
    await page.locator('#flag-filter label', { hasText: 'FUA' }).click();
    await page.locator('#flag-filter label', { hasText: 'FUA' }).click();
    await expect.poll(() => text('#row-count')).toBe(`${int(m.nr_entries)} of ${int(m.nr_entries)} entries`);
  });

  it('inspects an entry: checksums equal the CLI, the hex dump pages', async () => {
    const listed = cli<{
      index: number;
      payloadOffset: number;
      payloadLength: number;
      crc32c: string | null;
      xxh64: string | null;
    }>('list', '--checksum', '--json', log);
    const e = listed.find((x) => x.payloadLength > 8192)!;
    await page.locator('#filters input[name=from]').fill(String(e.index));
    await expect.poll(() => page.locator('.rows .row').first().getAttribute('data-entry')).toBe(String(e.index));
    await page.locator('.rows .row').first().click();
    await expect.poll(() => text('#insp-crc32c')).toBe(e.crc32c);
    expect(await text('#insp-xxh64')).toBe(e.xxh64);
    // What the entry wrote, as `list --fs` says.
    const [fsRow] = cli<{ fsWhat: { text: string }[] }>(
      'list',
      '--fs',
      '--json',
      '--from',
      String(e.index),
      '--to',
      String(e.index),
      log,
    );
    await expect.poll(() => text('#insp-fs'), { timeout: 20_000 }).toContain(fsRow!.fsWhat[0]!.text);
    const first = Buffer.alloc(8);
    const fd = fs.openSync(log, 'r');
    fs.readSync(fd, first, 0, 8, e.payloadOffset);
    fs.closeSync(fd);
    const hexes = [...first].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    expect((await text('#hex')).split('\n')[0]).toMatch(new RegExp(`^00000000 {2}${hexes} `));
    await page.locator('.hexnav button[title="next page"]').click();
    await expect.poll(async () => (await text('#hex')).slice(0, 8)).toBe('00001000');
    await shot('inspector', '#inspector-panel');
    await page.locator('#filters input[name=from]').fill('');
  });

  it('replays to a mark in memory; the downloaded image equals a replay by the core onto a file', async () => {
    const name = 'overwrite';
    const at = markEntry(name);
    await page.locator('#state-form input[name=size]').fill('64M');
    await page.locator('#state-form input[name=a]').fill(`mark:${name}`);
    await page.locator('#state-form button[type=submit]').click();
    await page.waitForSelector(`#state code.fingerprint[data-at="${at}"]`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
    const got = path.join(dir, 'downloaded.img');
    await download.saveAs(got);
    expect(fs.statSync(got).size).toBe(m.device_size);

    const want = zeroImage(dir, 'replayed.img', m.device_size);
    const source = openSource(log);
    const target = openTarget(want);
    try {
      await replay(await LogReader.open(source), target, { visit: (e) => (e.index >= at ? 'stop' : 'next') });
    } finally {
      target.close();
      source.close();
    }
    expect(sha256File(got)).toBe(sha256File(want));
    const digest = cli<{ entry: number; fingerprint: string }>('digest', '--json', log).find((d) => d.entry === at)!;
    expect(await text(`#state code.fingerprint`)).toBe(digest.fingerprint);
  });

  it('diffs two marks: changed ranges with the entries that did it, clickable, and a sector compared byte by byte', async () => {
    await page.locator('#state-form input[name=a]').fill('overwrite');
    await page.locator('#state-form input[name=b]').fill('rename');
    await page.locator('#diff').click();
    await expect.poll(() => text('#diff-total'), { timeout: 20_000 }).toMatch(/^\d+ changed ranges?, [\d,]+ sectors/);
    expect(await page.locator('#diff-swapped').count()).toBe(0);
    // The same ranges and entries as `logwrites diff --json`.
    const [want] = cli<{ sector: number; nrSectors: number; entries: number[] }[]>(
      'diff',
      '--json',
      log,
      'mark:overwrite',
      'mark:rename',
    );
    const shown = await page.$$eval('#diff-runs li', (lis) =>
      lis.map((li) => ({
        sector: Number(li.querySelector('.range-link')!.getAttribute('data-sector')),
        entries: [...li.querySelectorAll('.entry-link')].map((b) => Number(b.getAttribute('data-entry'))),
      })),
    );
    expect(shown).toEqual(want!.map((r) => ({ sector: r.sector, entries: r.entries.slice(0, 12) })));
    // Grouped by file and structure as `diff --fs` groups them.
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/logwrites.js'), 'diff', log, 'mark:overwrite', 'mark:rename', '--fs'],
      { encoding: 'utf8' },
    );
    expect(await text('#diff-fs')).toBe(
      /^(ext4 at entry \d+: .*)$/m.exec(r.stdout)![1]!.replace(/entry (\d+)/, (_, n) => `entry ${int(Number(n))}`),
    );
    const first = want![0]!;
    await page.locator('#diff-runs .entry-link').first().click();
    await expect.poll(() => text('#insp-index')).toBe(int(first.entries[0]!));
    await page.locator('#diff-runs .range-link').first().click();
    await expect
      .poll(() => text('#compare-total'))
      .toMatch(
        new RegExp(
          `^sector ${int(first.sector)} \\(device byte 0x[0-9a-f]+\\): [\\d,]+ of 512 bytes differ between A \\(entry ${int(markEntry('overwrite'))}\\) and B`,
        ),
      );
    expect(await page.locator('.cmp .diff').count()).toBeGreaterThan(0);
    await shot('state', '#state-panel');
    // B before A: said, not silently swapped.
    await page.locator('#state-form input[name=a]').fill('delete');
    await page.locator('#state-form input[name=b]').fill('files');
    await page.locator('#diff').click();
    await expect
      .poll(() => text('#diff-swapped'), { timeout: 20_000 })
      .toMatch(/^A is after B in the log, so this is what changed from B \(entry [\d,]+\) to A/);
  });

  it('looks right in the dark and on a narrow window', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(200);
    await shot('dark');
    await page.setViewportSize({ width: 420, height: 900 });
    await page.waitForTimeout(200);
    await shot('narrow');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(errors).toEqual([]);
  });

  it('marks entries past nr_entries in the table, the timeline and the marks', async () => {
    const crashed = path.join(dir, 'crashed.log');
    const bytes = fs.readFileSync(log);
    bytes.writeBigUInt64LE(240n, 16);
    fs.writeFileSync(crashed, bytes);
    await page.setInputFiles('#file', crashed);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
    await expect(text('#row-count')).resolves.toBe(
      `${int(m.nr_entries)} of ${int(m.nr_entries)} entries (${int(m.nr_entries - 240)} past nr_entries)`,
    );
    await expect
      .poll(() => text('#plot-notes'))
      .toContain(`entries 240–${int(m.nr_entries - 1)} are past nr_entries (240)`);
    const past = await page.$$eval('#marks li.past-end', (lis) =>
      lis.map((li) => Number((li as HTMLElement).dataset.entry)),
    );
    expect(past).toEqual(
      oracleRead(log)
        .entries.filter((e) => e.mark !== undefined && e.index >= 240)
        .map((e) => e.index),
    );
    await page.locator('#filters input[name=from]').fill('238');
    await expect.poll(() => page.locator('.rows .row').first().getAttribute('data-entry')).toBe('238');
    await expect(page.locator('.rows .row[data-entry="240"]').getAttribute('class')).resolves.toContain('past-end');
    await expect(page.locator('.rows .row[data-entry="239"]').getAttribute('class')).resolves.not.toContain('past-end');
    await shot('past-nr-entries');
    await page.locator('#filters input[name=from]').fill('');
  });

  it('opening something that is not a log over a log leaves no mix of the two', async () => {
    const junk = path.join(dir, 'junk.bin');
    fs.writeFileSync(junk, Buffer.alloc(8192, 7));
    await page.setInputFiles('#file', junk);
    await page.waitForSelector('body[data-state=error]');
    await expect(page.locator('#app').getAttribute('class')).resolves.toContain('empty');
    await expect(text('#open-error')).resolves.toMatch(/^junk\.bin: super at byte 0: bad magic/);
    await expect(text('#log-name')).resolves.toBe('');
    await shot('not-a-log');
    await page.setInputFiles('#file', log);
    await page.waitForSelector('body[data-state=ready]');
  });

  it.each(KERNEL_FIXTURES)('looks right on %s at 1280x800 and 420 px', async (name) => {
    await page.setInputFiles('#file', kernelLog(name));
    await page.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
    await expect
      .poll(() => page.locator('#plot-canvas').getAttribute('data-x1'))
      .toBe(String(manifest(name).nr_entries));
    await shot(`${name}-1280`);
    await page.setViewportSize({ width: 420, height: 800 });
    await expect
      .poll(() => page.locator('#plot-canvas').evaluate((c) => (c as HTMLCanvasElement).width))
      .toBeLessThan(420);
    for (const panel of ['summary', 'marks', 'plot', 'table', 'state']) {
      await page.locator(`#${panel}-panel`).scrollIntoViewIfNeeded();
      await shot(`${name}-420-${panel}`, `#${panel}-panel`);
    }
    // Nothing wider than the window.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(errors).toEqual([]);
  });

  it('opens a log preloaded by `logwrites view` over HTTP range requests', async () => {
    const viewer = await startViewer({ root: path.dirname(VIEWER), log });
    try {
      const p = await browser.context.newPage();
      const ranges: string[] = [];
      const failed: string[] = [];
      p.on('request', (r) => r.url().includes('/log/') && ranges.push(r.headers().range ?? 'none'));
      p.on('response', (r) => r.status() >= 400 && failed.push(`${r.status()} ${r.url()}`));
      await p.goto(viewer.url);
      await p.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
      expect(await p.locator('[data-k=entries]').innerText()).toBe(int(m.nr_entries));
      expect(ranges.length).toBeGreaterThan(0);
      for (const r of ranges) expect(r).toMatch(/^bytes=\d+-\d+$/);
      expect(failed).toEqual([]);
      await p.close();
    } finally {
      await viewer.close();
    }
  });

  it('over HTTP, a range that fails mid-log ends the index there and the summary names the entry and offset', async () => {
    const viewer = await startViewer({ root: path.dirname(VIEWER), log });
    const cut = 2 << 20;
    try {
      const p = await browser.context.newPage();
      const aborted: string[] = [];
      // The fetch worker's requests are the page's: refused past `cut`, as a dropped connection.
      await p.route('**/log/**', (route) => {
        const range = route.request().headers().range ?? '';
        if (Number(/^bytes=(\d+)-/.exec(range)?.[1]) >= cut)
          return (aborted.push(range), route.abort('connectionreset'));
        return route.continue();
      });
      await p.goto(viewer.url);
      await p.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
      expect(aborted.length).toBeGreaterThan(0);
      const entries = oracleRead(log).entries;
      const count = Number((await p.locator('[data-k=entries]').innerText()).replace(/,/g, ''));
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThan(entries.length);
      const warning = await p.locator('#warnings li').last().innerText();
      expect(warning).toContain(`entry ${count} at byte ${int(entries[count]!.offset)}: not read further: `);
      expect(warning).toMatch(/range request for bytes \d+-\d+ failed/);
      await p.screenshot({ path: path.join(SHOTS, 'http-cut-off.png') });
      await p.close();
    } finally {
      await viewer.close();
    }
  });
});
