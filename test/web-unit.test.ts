// The viewer's data paths without a browser: the worker protocol over a real MessageChannel
// with the kernel fixtures as Blobs, the index, filters, in-memory states, diffs and sector
// comparisons, the read-ahead, and the HTTP range source against `logwrites view`'s server.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { xxhash64 } from 'hash-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeader, encodeSuper, Flag } from '../src/format.ts';
import { jsKernels, loadKernels } from '../src/kernels/load.ts';
import { LogReader, memorySource } from '../src/reader.ts';
import { blobSource } from '../src/browser/blob-source.ts';
import { readAheadSource } from '../src/browser/read-ahead.ts';
import { ViewerClient } from '../src/browser/client.ts';
import { DeviceState, toRuns } from '../src/browser/device-state.ts';
import { attribute, diffPoints } from '../src/diff.ts';
import { httpSource } from '../src/browser/http-source.ts';
import { fetchRange } from '../src/browser/range-fetch.ts';
import { rangesThrough, serveRanges } from '../src/browser/range-worker.ts';
import { indexLog } from '../src/entry-index/build.ts';
import type { LogIndex, Summary } from '../src/entry-index/log-index.ts';
import { PAGE_BYTES } from '../src/browser/protocol.ts';
import { entryAt, filterRows, parseEntryBound, rowOf } from '../src/browser/rows.ts';
import { serveViewer } from '../src/browser/service.ts';
import { parseRange, startViewer } from '../src/node/view/server.ts';
import { kernelLog, manifest, scratchDir } from './support/fixtures.ts';
import { oracleRead, oracleReplay } from './support/oracle.ts';
import { Cancelled, HttpSourceError, InternalError, LogwritesError, RemoteError } from '../src/errors.ts';

const dir = scratchDir('web-unit');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function connect() {
  const { port1, port2 } = new MessageChannel();
  serveViewer(port1, loadKernels);
  const client = new ViewerClient(port2);
  return { client, close: () => (port1.close(), port2.close()) };
}

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

describe('worker protocol on the ext4-512 kernel log', () => {
  const log = kernelLog('ext4-512');
  const m = manifest('ext4-512');
  const oracle = oracleRead(log);
  const conn = connect();
  afterAll(() => conn.close());
  let index: LogIndex;
  let summary: Summary;
  const progress: Summary[] = [];

  beforeAll(async () => {
    // Node cannot post a file-backed Blob through a MessagePort (browsers can; test/web.test.ts).
    const blob = new Blob([fs.readFileSync(log)]);
    const opened = await conn.client.call('open', { source: { kind: 'blob', blob, name: 'ext4-512.log' } }, (p) =>
      progress.push(p),
    ).done;
    ({ index, summary } = opened);
  });

  it('indexes every entry into columns equal to an independent reader', () => {
    expect(index.count).toBe(oracle.entries.length);
    for (const e of oracle.entries) {
      expect([index.offset[e.index], index.sector[e.index], index.nrSectors[e.index], index.flags[e.index]]).toEqual([
        e.offset,
        e.sector,
        e.nrSectors,
        e.flags,
      ]);
    }
    expect(index.marks).toEqual(
      oracle.entries.filter((e) => e.mark !== undefined).map((e) => ({ index: e.index, text: e.mark })),
    );
  });

  it('summarises like the kernel recorded, and reports progress from the super on', () => {
    expect(summary).toMatchObject({
      complete: true,
      sectorSize: m.sectorsize,
      nrEntries: m.nr_entries,
      entries: m.nr_entries,
      trailing: 0,
      marks: m.marks_in_log.length,
      warnings: [],
    });
    expect(summary.flagCounts).toEqual(m.flag_counts);
    const written = oracle.entries.filter((e) => e.nrSectors).map((e) => e.sector + e.nrSectors);
    expect(summary.deviceSectors).toBe(Math.max(...written));
    expect(summary.payloadBytes).toBe(oracle.entries.reduce((n, e) => n + (e.payload?.length ?? 0), 0));
    expect(progress[0]).toMatchObject({ complete: false, entries: 0, sectorSize: m.sectorsize });
  });

  it('inspects an entry: header fields, a page of payload, checksums of the whole payload', async () => {
    const big = oracle.entries.find((e) => (e.payload?.length ?? 0) > PAGE_BYTES)!;
    const d = await conn.client.call('entry', { index: big.index, page: 1 }).done;
    expect(d).toMatchObject({
      index: big.index,
      offset: big.offset,
      sector: big.sector,
      nrSectors: big.nrSectors,
      flags: big.flags,
      page: 1,
      pages: Math.ceil(big.payload!.length / PAGE_BYTES),
    });
    expect(Buffer.from(d.bytes)).toEqual(big.payload!.subarray(PAGE_BYTES, 2 * PAGE_BYTES));
    expect(d.crc32c).toBe(crc32c(big.payload!).toString(16).padStart(8, '0'));
    expect(d.xxh64).toBe(await xxhash64(big.payload!));
    const mark = await conn.client.call('entry', { index: index.marks[0]!.index, page: 0 }).done;
    expect(mark).toMatchObject({ mark: m.marks_in_log[0], payloadLength: 0, flagNames: 'MARK' });
    expect(mark.crc32c).toBeUndefined();
  });

  it('replays to marks in memory, forwards and back, as an independent replay does', async () => {
    const size = m.device_size;
    for (const name of ['big', 'mkfs', 'delete']) {
      const at = index.marks.find((k) => k.text === name)!.index;
      const point = await conn.client.call('state', { at, deviceBytes: size }).done;
      expect(point.at).toBe(at);
      const { blob } = await conn.client.call('image', {}).done;
      const want = oracleReplay(log, size, at);
      expect(sha256(new Uint8Array(await blob.arrayBuffer()))).toBe(sha256(want));
      const fp = jsKernels.fingerprint(m.sectorsize);
      fp.write(0, want);
      expect(point.fingerprint).toBe(fp.value().toString(16).padStart(16, '0'));
    }
  });

  it('diffs two points as the sectors whose content changed', async () => {
    const [a, b] = ['files', 'overwrite'].map((n) => index.marks.find((k) => k.text === n)!.index) as [number, number];
    const diff = await conn.client.call('diff', { a: b, b: a, deviceBytes: m.device_size }).done;
    const ia = oracleReplay(log, m.device_size, a);
    const ib = oracleReplay(log, m.device_size, b);
    const changed: number[] = [];
    for (let s = 0; s < m.device_size / m.sectorsize; s++) {
      const at = s * m.sectorsize;
      if (ia.compare(ib, at, at + m.sectorsize, at, at + m.sectorsize) !== 0) changed.push(s);
    }
    expect(changed.length).toBeGreaterThan(0);
    expect(diff.runs).toEqual(toRuns(changed));
    expect([diff.a.at, diff.b.at, diff.swapped]).toEqual([a, b, true]);
    expect(diff.a.fingerprint).not.toBe(diff.b.fingerprint);
    // A changed sector's bytes at both points, from the diff's copies and the image.
    for (const sector of [changed[0]!, changed.at(-1)!]) {
      const pair = await conn.client.call('sector', { a: b, b: a, sector, deviceBytes: m.device_size }).done;
      const at = sector * m.sectorsize;
      expect([pair.a.at, pair.b.at, pair.sector]).toEqual([a, b, sector]);
      expect(Buffer.from(pair.before).equals(ia.subarray(at, at + m.sectorsize))).toBe(true);
      expect(Buffer.from(pair.after).equals(ib.subarray(at, at + m.sectorsize))).toBe(true);
    }
    // After another replay moved the image, the comparison diffs again rather than answer from stale copies.
    await conn.client.call('state', { at: 3, deviceBytes: m.device_size }).done;
    const again = await conn.client.call('sector', { a, b, sector: changed[0]!, deviceBytes: m.device_size }).done;
    expect(
      Buffer.from(again.before).equals(ia.subarray(changed[0]! * m.sectorsize, (changed[0]! + 1) * m.sectorsize)),
    ).toBe(true);
    await expect(conn.client.call('sector', { a, b, sector: 1e9, deviceBytes: m.device_size }).done).rejects.toThrow(
      /outside the \d+-sector device/,
    );
  });

  it('names the entries responsible for each changed range as the CLI does', async () => {
    const [a, b] = ['overwrite', 'rename'].map((n) => index.marks.find((k) => k.text === n)!.index) as [number, number];
    const diff = await conn.client.call('diff', { a, b, deviceBytes: m.device_size }).done;
    expect(diff.swapped).toBe(false);
    const touches = oracle.entries.filter((e) => e.index > a && e.index <= b && e.nrSectors > 0);
    const byPage = attribute(
      diff.runs.map(([sector, nrSectors]) => ({ sector, nrSectors })),
      touches,
    );
    const cli = await diffPoints(await LogReader.open(memorySource(fs.readFileSync(log))), a, b);
    expect(byPage).toEqual(cli);
  });

  it('answers bad requests with one-line errors', async () => {
    await expect(conn.client.call('entry', { index: 1e9, page: 0 }).done).rejects.toThrow(
      /^no entry 1000000000 \(the log has \d+\)$/,
    );
    await expect(conn.client.call('state', { at: 5, deviceBytes: 2 ** 31 }).done).rejects.toThrow(/1 GiB/);
    await expect(conn.client.call('state', { at: 200, deviceBytes: 4096 }).done).rejects.toThrow(
      /past the end of the 4096-byte image/,
    );
  });

  it('rejects with the worker error rebuilt: its code, name and message', async () => {
    await expect(conn.client.call('entry', { index: 1e9, page: 0 }).done).rejects.toMatchObject({
      code: 'EBADCALL',
      name: 'BadCall',
    });
    await expect(conn.client.call('state', { at: 200, deviceBytes: 4096 }).done).rejects.toMatchObject({
      code: 'EIMAGESMALL',
      name: 'ImageTooSmall',
    });
    // What is not of the family crosses as EINTERNAL, its message kept.
    const { port1, port2 } = new MessageChannel();
    try {
      port1.addEventListener('message', (ev) =>
        port1.postMessage({ id: ev.data.id, kind: 'error', error: InternalError.wrap(new TypeError('boom')).toJSON() }),
      );
      port1.start();
      const err = await new ViewerClient(port2).call('classes', {}).done.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect(err).toMatchObject({ code: 'EINTERNAL', name: 'InternalError', message: 'boom' });
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe('opening', () => {
  it('cancels an indexing in progress', async () => {
    const conn = connect();
    try {
      // 64 MiB of 4 KiB writes: eight chunks, and the cancel goes out at the first report.
      const S = 512;
      const payload = new Uint8Array(4096);
      // (The encoders return plain ArrayBuffer-backed arrays; their declared type is wider.)
      const parts = [encodeSuper({ nrEntries: 16384, sectorSize: S })] as Uint8Array<ArrayBuffer>[];
      for (let i = 0; i < 16384; i++)
        parts.push(encodeHeader({ sector: i * 8, nrSectors: 8, flags: 0 }, S) as Uint8Array<ArrayBuffer>, payload);
      const blob = new Blob(parts);
      let id = 0;
      const call = conn.client.call('open', { source: { kind: 'blob', blob, name: 'b' } }, () =>
        conn.client.cancel(id),
      );
      id = call.id;
      const err = await call.done.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).code).toBe('ECANCELLED');
    } finally {
      conn.close();
    }
  });

  it('stops between chunks when the signal fires', async () => {
    const reader = await LogReader.open(blobSource(await fs.openAsBlob(kernelLog('xfs-4k'))));
    const abort = new AbortController();
    let reports = 0;
    const run = indexLog(reader, {
      name: 'x',
      signal: abort.signal,
      chunkSize: 64 * 1024,
      progressMs: 0,
      onProgress: () => ++reports === 3 && abort.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(Cancelled);
    expect(reports).toBe(3);
  });

  it('says what is wrong with a log that is not one', async () => {
    const conn = connect();
    try {
      const blob = new Blob([new Uint8Array(4096).fill(7)]);
      await expect(conn.client.call('open', { source: { kind: 'blob', blob, name: 'junk' } }).done).rejects.toThrow(
        /^super at byte 0: bad magic 0x707070707070707/,
      );
    } finally {
      conn.close();
    }
  });

  it('keeps what it read of a damaged log and warns with entry and offset, trailing entries too', async () => {
    const S = 512;
    const w = (sector: number, flags = 0) => [
      encodeHeader({ sector, nrSectors: 1, flags }, S),
      new Uint8Array(S).fill(sector),
    ];
    // nr_entries says 2, three valid entries follow, then a header that is not zero padded.
    const bad = encodeHeader({ sector: 9, nrSectors: 1, flags: 0 }, S);
    bad[32] = 1;
    const bytes = Buffer.concat([
      encodeSuper({ nrEntries: 2, sectorSize: S }),
      ...w(1),
      ...w(2, Flag.FUA),
      ...w(3),
      bad,
    ]);
    const { summary } = await indexLog(await LogReader.open(memorySource(bytes)), { name: 't' });
    expect(summary).toMatchObject({ entries: 3, trailing: 1, nrEntries: 2 });
    expect(summary.warnings).toEqual([
      { entry: 2, offset: 5 * S, message: expect.stringMatching(/^1 valid entry past nr_entries/) },
    ]);
    const truncated = bytes.subarray(0, 4 * S);
    const counted = await indexLog(
      await LogReader.open(
        memorySource(Buffer.concat([encodeSuper({ nrEntries: 5, sectorSize: S }), truncated.subarray(S)])),
      ),
      { name: 't' },
    );
    // The index pass reads headers only: the file ends where entry 1's payload should be,
    // which the warning names (not the next header's place, past the end of the file).
    expect(counted.summary.entries).toBe(2);
    expect(counted.summary.warnings).toEqual([
      {
        entry: 1,
        offset: 3 * S,
        message: expect.stringMatching(/^payload cut off: 512 bytes from byte 2048, but the log ends at byte 2048/),
      },
    ]);
    expect(counted.summary.payloadBytes).toBe(S);
  });

  it('counts no more payload than the file holds when it ends inside a payload, and names only offsets in the file', async () => {
    const log = fs.readFileSync(kernelLog('ext4-512'));
    const { entries } = oracleRead(kernelLog('ext4-512'));
    // Cut a large payload in the middle, as a copy that stopped short would.
    const big = entries.find((e) => (e.payload?.length ?? 0) >= 1 << 20)!;
    const cut = big.offset + 512 + (big.payload!.length >> 1);
    const { index, summary } = await indexLog(await LogReader.open(memorySource(log.subarray(0, cut))), {
      name: 'cut',
    });
    expect(index.count).toBe(big.index + 1);
    expect(summary.bytesIndexed).toBe(cut);
    expect(summary.payloadBytes).toBe(
      entries.slice(0, big.index).reduce((n, e) => n + (e.payload?.length ?? 0), 0) + (cut - big.offset - 512),
    );
    expect(summary.payloadBytes).toBeLessThan(cut);
    expect(summary.warnings).toEqual([
      {
        entry: big.index,
        offset: big.offset,
        message: `payload cut off: ${big.payload!.length} bytes from byte ${big.offset + 512}, but the log ends at byte ${cut} (${big.offset + 512 + big.payload!.length - cut} bytes missing)`,
      },
    ]);
  });
});

describe('table and plot data paths', () => {
  const log = kernelLog('ext4-512');
  const { entries } = oracleRead(log);
  let index: LogIndex;
  beforeAll(async () => {
    ({ index } = await indexLog(await LogReader.open(blobSource(await fs.openAsBlob(log))), { name: 'e' }));
  });
  const ids = (rows: Uint32Array | null) => [...(rows ?? [])];

  it('filters by flag, entry range (numbers or marks), sector range and mark text', () => {
    expect(filterRows(index, {})).toBeNull();
    expect(ids(filterRows(index, { flags: Flag.FUA }))).toEqual(
      entries.filter((e) => e.flags & Flag.FUA).map((e) => e.index),
    );
    expect(ids(filterRows(index, { plain: true }))).toEqual(entries.filter((e) => e.flags === 0).map((e) => e.index));
    const from = parseEntryBound(index, 'mark:files')!;
    const to = parseEntryBound(index, 'big')!;
    expect(ids(filterRows(index, { from, to, flags: Flag.FLUSH }))).toEqual(
      entries.filter((e) => e.index >= from && e.index <= to && e.flags & Flag.FLUSH).map((e) => e.index),
    );
    const sectors = { start: 1000, end: 5000 };
    expect(ids(filterRows(index, { sectors }))).toEqual(
      entries.filter((e) => e.nrSectors && e.sector + e.nrSectors > 1000 && e.sector <= 5000).map((e) => e.index),
    );
    expect(ids(filterRows(index, { markText: 'OVER' }))).toEqual([entries.find((e) => e.mark === 'overwrite')!.index]);
    expect(() => parseEntryBound(index, 'mark:nope')).toThrow("no entry number or mark named 'nope'");
  });

  it('maps rows to entries and back', () => {
    const rows = filterRows(index, { flags: Flag.MARK });
    expect(entryAt(rows, 2)).toBe(index.marks[2]!.index);
    expect(rowOf(rows, index.marks[2]!.index)).toBe(2);
    expect(rowOf(rows, index.marks[2]!.index - 1)).toBe(2);
    expect(rowOf(null, 17)).toBe(17);
  });
});

describe('in-memory state', () => {
  it('agrees between the WebAssembly and TypeScript kernels', async () => {
    const log = kernelLog('xfs-4k');
    const m = manifest('xfs-4k');
    const reader = await LogReader.open(blobSource(await fs.openAsBlob(log)));
    const { index } = await indexLog(reader, { name: 'x' });
    const end = index.nrEntries - 1;
    const points = await Promise.all(
      [await loadKernels(), jsKernels].map(async (k) => {
        const st = new DeviceState(reader, index.offset, k, m.device_size);
        const p = await st.goTo(end);
        expect(sha256(st.image)).toBe(m.final_device_sha256);
        st.dispose();
        return p;
      }),
    );
    expect(points[0]).toEqual(points[1]);
  });
});

describe('the HTTP range source against logwrites view', () => {
  const log = kernelLog('ext4-512');
  const root = path.join(dir, 'web');
  let viewer: Awaited<ReturnType<typeof startViewer>>;
  beforeAll(async () => {
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
    viewer = await startViewer({ root, log });
  });
  afterAll(() => viewer.close());

  it('parses ranges like RFC 9110 says', () => {
    expect(parseRange(undefined, 10)).toBe('all');
    expect(parseRange('bytes=2-4', 10)).toEqual({ start: 2, end: 4 });
    expect(parseRange('bytes=8-', 10)).toEqual({ start: 8, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=5-100', 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBeNull();
    expect(parseRange('bytes=0-1,4-5', 10)).toBe('all');
  });

  it('serves the preloaded log in ranges that the reader walks like the file', async () => {
    expect(viewer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?log=log%2Fext4-512\.log$/);
    const url = new URL(new URL(viewer.url).searchParams.get('log')!, viewer.url).href;
    const reader = await LogReader.open(await httpSource(url));
    expect(reader.source.size).toBe(fs.statSync(log).size);
    const { index, summary } = await indexLog(reader, { name: 'h', chunkSize: 1 << 20 });
    expect(summary.entries).toBe(manifest('ext4-512').nr_entries);
    expect(index.offset.at(-1)).toBe(oracleRead(log).entries.at(-1)!.offset);
    const res = await fetch(url, { headers: { Range: 'bytes=99999999-' } });
    expect(res.status).toBe(416);
    expect((await fetch(new URL('/../../etc/passwd', viewer.url))).status).toBe(404);
    expect((await fetch(new URL('/', viewer.url), { redirect: 'manual' })).status).toBe(302);
    expect(await (await fetch(new URL('/index.html', viewer.url))).text()).toContain('<title>t</title>');
    expect((await fetch(new URL('/favicon.ico', viewer.url))).status).toBe(204);
  });

  it('refuses requests for another host name or from another origin (DNS rebinding)', async () => {
    const { port } = viewer;
    const get = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        http
          .get(
            { host: '127.0.0.1', port, path: '/index.html', headers },
            (res) => (res.resume(), resolve(res.statusCode!)),
          )
          .on('error', reject);
      });
    expect(await get({ Host: `127.0.0.1:${port}` })).toBe(200);
    expect(await get({ Host: `localhost:${port}` })).toBe(200);
    expect(await get({ Host: `evil.example:${port}` })).toBe(403);
    expect(await get({ Host: `127.0.0.1:${port + 1}` })).toBe(403);
    expect(await get({ Host: `127.0.0.1:${port}`, Origin: 'http://evil.example' })).toBe(403);
    expect(await get({ Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` })).toBe(200);
  });

  it('reads ahead over HTTP: a scan asks for the next range before it has parsed this one', async () => {
    const url = new URL(new URL(viewer.url).searchParams.get('log')!, viewer.url).href;
    const asked: string[] = [];
    const counting: typeof fetch = (input, init) => {
      asked.push(new Headers(init?.headers).get('range') ?? '');
      return fetch(input, init);
    };
    const src = await httpSource(url, counting);
    const first = await src.read(0, 1 << 20);
    expect(asked.length).toBe(3); // the size probe, this read and the 32 MiB ahead (here: the rest of the log)
    const second = await src.read((1 << 20) - 1000, 1 << 20);
    const third = await src.read((2 << 20) + 5000, 1 << 20);
    expect(asked.length).toBe(3);
    const whole = fs.readFileSync(log);
    expect(Buffer.from(first).equals(whole.subarray(0, 1 << 20))).toBe(true);
    expect(Buffer.from(second).equals(whole.subarray((1 << 20) - 1000, (2 << 20) - 1000))).toBe(true);
    expect(Buffer.from(third).equals(whole.subarray((2 << 20) + 5000, (3 << 20) + 5000))).toBe(true);
  });
});

describe('range reads (in this thread or a fetch worker)', () => {
  const log = kernelLog('ext4-512');
  const whole = fs.readFileSync(log);
  const root = path.join(dir, 'web-ranges');
  let viewer: Awaited<ReturnType<typeof startViewer>>;
  let url: string;
  beforeAll(async () => {
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>t</title>');
    viewer = await startViewer({ root, log });
    url = new URL(new URL(viewer.url).searchParams.get('log')!, viewer.url).href;
  });
  afterAll(() => viewer.close());

  /** A fetch worker on the far end of a MessageChannel (the page starts a real Worker). */
  const fetchWorker = (fetchFn: typeof fetch = fetch) => {
    const { port1, port2 } = new MessageChannel();
    serveRanges(port2, fetchFn);
    return { fetchRange: rangesThrough(port1), close: () => (port1.close(), port2.close()) };
  };

  it('serves ranges byte for byte across the pieces it reads and writes, and the whole file without one', async () => {
    const at = (1 << 20) - 7;
    const end = (3 << 20) + 5;
    expect(Buffer.from(await fetchRange(url, at, end)).equals(whole.subarray(at, end))).toBe(true);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(whole)).toBe(true);
  });

  it('lets go of the file when a client goes away mid-range', async () => {
    const held = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === log;
        } catch {
          return false;
        }
      }).length;
    const before = held();
    const abort = new AbortController();
    const res = await fetch(url, { headers: { Range: `bytes=0-${whole.length - 1}` }, signal: abort.signal });
    await res.body!.getReader().read();
    abort.abort();
    await expect.poll(held, { timeout: 5000 }).toBe(before);
    expect(Buffer.from(await fetchRange(url, 0, 4096)).equals(whole.subarray(0, 4096))).toBe(true);
  });

  it('reads a body into one buffer with a BYOB reader, or whole where the body has none, and refuses one shorter than the range', async () => {
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    const byteStream = (b: Uint8Array) =>
      new ReadableStream({
        type: 'bytes',
        start: (c) => (c.enqueue(b.slice(0, 1000)), c.enqueue(b.slice(1000)), c.close()),
      });
    const answer =
      (body: () => BodyInit, status = 206): typeof fetch =>
      async () =>
        new Response(body(), { status });
    expect(
      await fetchRange(
        'u',
        0,
        3000,
        answer(() => byteStream(bytes)),
      ),
    ).toEqual(bytes);
    const plainStream = new ReadableStream({
      start: (c) => (c.enqueue(bytes.slice(0, 1000)), c.enqueue(bytes.slice(1000)), c.close()),
    });
    expect(
      await fetchRange(
        'u',
        0,
        3000,
        answer(() => plainStream),
      ),
    ).toEqual(bytes);
    await expect(
      fetchRange(
        'u',
        100,
        3100,
        answer(() => byteStream(bytes.subarray(0, 2000))),
      ),
    ).rejects.toThrow('u: range request for bytes 100-3099 answered 2000 bytes, want 3000');
    await expect(
      fetchRange(
        'u',
        0,
        10,
        answer(() => bytes, 200),
      ),
    ).rejects.toThrow('u: range request for bytes 0-9 answered 200');
    const down: typeof fetch = async () => {
      throw new TypeError('Failed to fetch');
    };
    await expect(fetchRange('u', 0, 10, down)).rejects.toThrow(
      new HttpSourceError('u', 'range request for bytes 0-9 failed: Failed to fetch'),
    );
  });

  it('indexes through a fetch worker exactly as in this thread', async () => {
    const worker = fetchWorker();
    try {
      const index = async (opts?: Parameters<typeof httpSource>[2]) => {
        const { index, summary } = await indexLog(await LogReader.open(await httpSource(url, fetch, opts)), {
          name: 'h',
          chunkSize: 1 << 20,
        });
        return { summary, offsets: [...index.offset] };
      };
      const here = await index();
      expect(here.summary.entries).toBe(manifest('ext4-512').nr_entries);
      expect(await index({ fetchRange: worker.fetchRange })).toEqual(here);
      expect(Buffer.from(await worker.fetchRange(url, 5, 70_000)).equals(whole.subarray(5, 70_000))).toBe(true);
    } finally {
      worker.close();
    }
  });

  it('a fetch worker that fails mid-log ends the index there, with a warning naming the entry, its offset and the range', async () => {
    const cut = 2 << 20;
    const failing: typeof fetch = (input, init) => {
      const start = Number(/bytes=(\d+)-/.exec(new Headers(init?.headers).get('range') ?? '')?.[1]);
      if (start >= cut) return Promise.reject(new TypeError('Failed to fetch'));
      return fetch(input, init);
    };
    const worker = fetchWorker(failing);
    try {
      const source = await httpSource(url, fetch, { fetchRange: worker.fetchRange });
      const { index, summary } = await indexLog(await LogReader.open(source), { name: 'h', chunkSize: 1 << 20 });
      const entries = oracleRead(log).entries;
      expect(index.count).toBeGreaterThan(0);
      expect(index.count).toBeLessThan(entries.length);
      expect([...index.offset]).toEqual(entries.slice(0, index.count).map((e) => e.offset));
      const w = summary.warnings.at(-1)!;
      expect(w.entry).toBe(index.count);
      expect(w.offset).toBe(entries[index.count]!.offset);
      expect(w.message).toMatch(
        new RegExp(
          `^not read further: ${url.replace(/[.?]/g, '\\$&')}: range request for bytes \\d+-\\d+ failed: Failed to fetch$`,
        ),
      );
      // Across the worker boundary the error keeps its code.
      await expect(worker.fetchRange(url, cut, cut + 10)).rejects.toSatisfy((e: LogwritesError) => e.code === 'EHTTP');
    } finally {
      worker.close();
    }
  });
});

describe('read-ahead (Blob and HTTP sources)', () => {
  /** A deterministic byte pattern, so any misplaced byte shows. */
  const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);

  it.each([0, 2 << 20])(
    'returns the exact bytes for overlapping, skipping and small reads (reading ahead %i bytes at least)',
    async (aheadBytes) => {
      const bytes = pattern(7 << 20);
      const blob = new Blob([bytes]);
      const src = aheadBytes
        ? readAheadSource(blob.size, async (a, b) => new Uint8Array(await blob.slice(a, b).arrayBuffer()), {
            aheadBytes,
          })
        : blobSource(blob);
      let seed = 7;
      const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
      let at = 0;
      while (at < bytes.length) {
        const length = rand(3) === 0 ? 1 + rand(4096) : (1 << 20) - 2048 + rand(4096);
        const got = await src.read(at, length);
        expect(Buffer.from(got).equals(Buffer.from(bytes.subarray(at, at + length))), `read ${at}+${length}`).toBe(
          true,
        );
        at += Math.max(1, rand(2) ? length - rand(2048) : length + rand(70_000));
      }
    },
  );

  it('keeps the next chunk asked for while the scan is on this one (two in flight), and asks for nothing past the end', async () => {
    const bytes = pattern(7 << 20);
    const asked: [number, number][] = [];
    const src = readAheadSource(bytes.length, async (a, b) => (asked.push([a, b]), bytes.slice(a, b)), {
      aheadBytes: 2 << 20,
    });
    await src.read(0, 1 << 20);
    expect(asked.length).toBe(2); // this read and the chunk ahead
    await src.read(1 << 20, 1 << 20);
    // Served from the chunk ahead, which now holds less than 2 MiB past this read: the next is asked for.
    expect(asked.length).toBe(3);
    expect(asked[2]![0]).toBe(asked[1]![1] - 64 * 1024);
    for (let at = 2 << 20; at < bytes.length; at += 1 << 20)
      expect(Buffer.from(await src.read(at, 1 << 20)).equals(Buffer.from(bytes.subarray(at, at + (1 << 20))))).toBe(
        true,
      );
    expect(Math.max(...asked.map(([, b]) => b))).toBe(bytes.length);
    expect(asked.every(([a]) => a < bytes.length)).toBe(true);
  });

  it('indexes a log read through a Blob exactly as one in memory', async () => {
    const S = 512;
    const parts: Uint8Array[] = [encodeSuper({ nrEntries: 400, sectorSize: S })];
    for (let i = 0; i < 400; i++) {
      const nrSectors = [1, 8, 130, 700][i % 4]!;
      parts.push(encodeHeader({ sector: i * 1000, nrSectors, flags: i % 9 ? 0 : Flag.FUA }, S), pattern(nrSectors * S));
    }
    const log = Buffer.concat(parts);
    const index = async (source: ReturnType<typeof memorySource>, chunkSize: number) => {
      const { index, summary } = await indexLog(await LogReader.open(source), { name: 'x', chunkSize });
      return { summary: { ...summary, name: '' }, offsets: [...index.offset] };
    };
    const want = await index(memorySource(log), 1 << 20);
    for (const chunk of [1 << 20, (1 << 20) + 1536])
      expect(await index(blobSource(new Blob([log])), chunk)).toEqual(want);
  });
});
