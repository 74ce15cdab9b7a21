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
import { replay } from '../src/replay.ts';
import { openSource } from '../src/node/file.ts';
import { openTarget } from '../src/node/target.ts';
import { startViewer } from '../src/node/view.ts';
import { browserMissing, launch, SHOTS, VIEWER, type Browser } from './support/browser.ts';
import { kernelLog, manifest, ROOT, scratchDir, sha256File, zeroImage } from './support/fixtures.ts';

const missing = browserMissing();
if (missing) console.warn(`skipping the browser tests: ${missing}`);

const NAME = 'ext4-512';
const log = kernelLog(NAME);
const m = manifest(NAME);

function cli<T>(...args: string[]): T[] {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`logwrites ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as T);
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
    selector ? page.locator(selector).screenshot({ path: path.join(SHOTS, `${name}.png`) }) : page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  const text = (selector: string) => page.locator(selector).innerText();
  const markEntry = (name: string) => cli<{ mark: string; entry: number }[]>('marks', '--json', log)[0]!.find((k) => k.mark === name)!.entry;

  it('opens from disk and shows the welcome page', async () => {
    await expect(page.locator('.drop-target h2').innerText()).resolves.toMatch(/Drop a dm-log-writes log/);
    await shot('welcome');
  });

  it('loads a kernel log through the file picker: summary and marks as the CLI computes them', async () => {
    await page.setInputFiles('#file', log);
    await page.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
    const [info] = cli<{ entries: number; trailingEntries: number; marks: number; flagCounts: Record<string, number> }>('info', '--json', log);
    expect(await text('[data-k=entries]')).toBe(int(info!.entries));
    expect(await text('[data-k=trailing]')).toBe(int(info!.trailingEntries));
    expect(await text('[data-k=marks]')).toBe(int(info!.marks));
    for (const [flag, n] of Object.entries(info!.flagCounts)) expect(await text(`[data-k=${flag}]`)).toBe(int(n));
    const [marks] = cli<{ mark: string; entry: number }[]>('marks', '--json', log);
    const shown = await page.$$eval('#marks li', (lis) => lis.map((li) => ({ entry: Number((li as HTMLElement).dataset.entry), text: li.querySelector('.t')!.textContent })));
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
    await page.locator('#flag-filter label', { hasText: 'FUA' }).click();
    await expect.poll(() => text('#row-count')).toBe(`${int(m.nr_entries)} of ${int(m.nr_entries)} entries`);
  });

  it('inspects an entry: checksums equal the CLI, the hex dump pages', async () => {
    const listed = cli<{ index: number; payloadOffset: number; payloadLength: number; crc32c: string | null; xxh64: string | null }>('list', '--checksum', '--json', log);
    const e = listed.find((x) => x.payloadLength > 8192)!;
    await page.locator('#filters input[name=from]').fill(String(e.index));
    await expect.poll(() => page.locator('.rows .row').first().getAttribute('data-entry')).toBe(String(e.index));
    await page.locator('.rows .row').first().click();
    await expect.poll(() => text('#insp-crc32c')).toBe(e.crc32c);
    expect(await text('#insp-xxh64')).toBe(e.xxh64);
    // What the entry wrote, as `list --fs` says.
    const [fsRow] = cli<{ fsWhat: { text: string }[] }>('list', '--fs', '--json', '--from', String(e.index), '--to', String(e.index), log);
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

  it('diffs two marks as changed sector ranges', async () => {
    await page.locator('#state-form input[name=a]').fill('files');
    await page.locator('#state-form input[name=b]').fill('delete');
    await page.locator('#diff').click();
    await expect.poll(() => text('#diff-total'), { timeout: 20_000 }).toMatch(/^\d+ changed ranges?, [\d,]+ sectors/);
    // Grouped by file and structure as `diff --fs` groups them.
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/logwrites.js'), 'diff', log, 'mark:files', 'mark:delete', '--fs'], { encoding: 'utf8' });
    const summary = /^ext4 at entry \d+: (.*)$/m.exec(r.stdout)![1];
    expect(await text('#diff-fs')).toBe(`ext4 at B: ${summary}`);
    await shot('state', '#state-panel');
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

  it('opens a log preloaded by `logwrites view` over HTTP range requests', async () => {
    const viewer = await startViewer({ root: path.dirname(VIEWER), log });
    try {
      const p = await browser.context.newPage();
      const ranges: string[] = [];
      p.on('request', (r) => r.url().includes('/log/') && ranges.push(r.headers().range ?? 'none'));
      await p.goto(viewer.url);
      await p.waitForSelector('body[data-state=ready]', { timeout: 30_000 });
      expect(await p.locator('[data-k=entries]').innerText()).toBe(int(m.nr_entries));
      expect(ranges.length).toBeGreaterThan(0);
      for (const r of ranges) expect(r).toMatch(/^bytes=\d+-\d+$/);
      await p.close();
    } finally {
      await viewer.close();
    }
  });
});
