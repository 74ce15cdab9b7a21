// Valid logs to damage: written by our LogWriter (three sector sizes), cut from the kernel's
// fixtures (a prefix that ends at an entry boundary, with the super counting it), and written
// by QEMU's blklogwrites driver when qemu-io is installed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LogReader, memorySource } from '../../src/reader.ts';
import { superWithCount } from '../../src/recover.ts';
import { LogWriter, type LogDevice } from '../../src/writer.ts';
import { kernelLog, type KernelFixture } from '../support/fixtures.ts';
import { oracleRead } from '../support/oracle.ts';
import { rng } from './hostile.ts';
import type { Base } from './mutate.ts';

export interface BaseFile {
  name: string;
  path: string;
}

function memoryLog(): LogDevice & { bytes(): Uint8Array } {
  let buf = new Uint8Array(1 << 16);
  let used = 0;
  return {
    write(offset, parts) {
      let need = offset;
      for (const p of parts) need += p.length;
      if (need > buf.length) {
        const next = new Uint8Array(Math.max(need, buf.length * 2));
        next.set(buf);
        buf = next;
      }
      let at = offset;
      for (const p of parts) {
        buf.set(p, at);
        at += p.length;
      }
      used = Math.max(used, at);
    },
    sync() {},
    bytes: () => buf.slice(0, used),
  };
}

/** A small log of every entry kind through LogWriter: writes, FUA, flushes, discards, marks. */
export async function writerLog(S: number, seed: number): Promise<Uint8Array> {
  const r = rng(seed);
  const dev = memoryLog();
  const w = await LogWriter.create(dev, { sectorSize: S });
  for (let i = 0; i < 40; i++) {
    const kind = r.int(10);
    const sector = r.int(64);
    if (kind < 6) {
      const data = r.bytes(S * (1 + r.int(4)));
      await w.complete(w.issue({ kind: 'write', sector, data: [data], fua: kind === 0, metadata: kind === 1 }));
    } else if (kind === 6) await w.complete(w.issue({ kind: 'discard', sector, nrSectors: 1 + r.int(8) }));
    else if (kind === 7) await w.complete(w.issue({ kind: 'flush' }));
    else await w.mark(`m${i}`);
  }
  await w.close();
  return dev.bytes();
}

/**
 * Real kernel entries, in log order, as a small log of their own: those with at most 64 KiB of
 * payload that touch the first 8 MiB of the device, from `startAt` (a fraction) of the way in,
 * until `maxBytes`, with the super counting them.
 */
export function kernelSample(name: KernelFixture, maxBytes: number, startAt = 0): Uint8Array {
  const file = kernelLog(name);
  const { sectorSize: S, entries } = oracleRead(file);
  const log = fs.readFileSync(file);
  const parts: Uint8Array[] = [log.subarray(0, S)];
  let size = S;
  for (const e of entries.slice(Math.floor(startAt * entries.length))) {
    const bytes = S + (e.payload?.length ?? 0);
    if (bytes > S + 65536 || (e.sector + e.nrSectors) * S > 8 << 20) continue;
    if (size + bytes > maxBytes) break;
    parts.push(log.subarray(e.offset, e.offset + bytes));
    size += bytes;
  }
  const out = new Uint8Array(Buffer.concat(parts));
  out.set(superWithCount(out.subarray(0, S), parts.length - 1));
  return out;
}

/** A log written by QEMU's blklogwrites driver, or undefined (with why) when qemu-io is missing. */
export function qemuLog(dir: string, S: number): { path?: string; why?: string } {
  const data = path.join(dir, `qemu-data-${S}.img`);
  const log = path.join(dir, `qemu-${S}.log`);
  fs.writeFileSync(data, '');
  fs.truncateSync(data, 1 << 20);
  fs.writeFileSync(log, '');
  fs.truncateSync(log, 1 << 20);
  const cmds = [
    'write -P 1 0 64k',
    'write -P 2 4k 8k',
    'flush',
    'write -z 32k 16k',
    'write -P 3 -f 0 4k',
    'discard 128k 64k',
    'flush',
  ];
  const r = spawnSync(
    'qemu-io',
    [
      '--image-opts',
      `driver=blklogwrites,file.filename=${data},log.filename=${log},log-sector-size=${S}`,
      ...cmds.flatMap((c) => ['-c', c]),
    ],
    { encoding: 'utf8' },
  );
  if (r.error) return { why: `qemu-io is not installed (${r.error.message})` };
  if (r.status !== 0) return { why: `qemu-io failed: ${r.stderr.trim()}` };
  // QEMU leaves the rest of the file as it was (zeros); cut it to what the log uses.
  const { entries } = oracleRead(log);
  const last = entries[entries.length - 1];
  const end = last ? last.offset + S + (last.payload?.length ?? 0) : S;
  fs.truncateSync(log, end);
  return { path: log };
}

export async function prepareBases(dir: string): Promise<{ bases: BaseFile[]; notes: string[] }> {
  const bases: BaseFile[] = [];
  const notes: string[] = [];
  const put = (name: string, bytes: Uint8Array) => {
    const p = path.join(dir, `${name}.log`);
    fs.writeFileSync(p, bytes);
    bases.push({ name, path: p });
  };
  for (const S of [512, 1024, 4096]) put(`writer-${S}`, await writerLog(S, S));
  for (const k of ['ext4-512', 'xfs-4k', 'btrfs-512'] as const) put(`kernel-${k}`, kernelSample(k, 256 * 1024));
  put('kernel-ext4-fsync-many', kernelSample('ext4-fsync-many', 256 * 1024, 0.5));
  for (const S of [512, 4096]) {
    const q = qemuLog(dir, S);
    if (q.path) bases.push({ name: `qemu-${S}`, path: q.path });
    else notes.push(`QEMU logs skipped: ${q.why}`);
  }
  return { bases, notes };
}

/** A base log in memory with its entry offsets and the device size its writes need (at least 1 MiB). */
export async function loadBase(name: string, p: string): Promise<Base> {
  const bytes = new Uint8Array(fs.readFileSync(p));
  const reader = await LogReader.open(memorySource(bytes));
  const offsets: number[] = [];
  let top = 0;
  for await (const e of reader.entries({ payloads: true })) {
    offsets.push(e.offset);
    if (e.nrSectors) top = Math.max(top, (e.sector + e.nrSectors) * reader.sectorSize);
  }
  return { name, bytes, S: reader.sectorSize, offsets, deviceBytes: Math.max(top, 1 << 20) };
}
