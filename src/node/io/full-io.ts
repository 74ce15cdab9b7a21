// Whole reads and writes at a position, looping over short ones: synchronously for replay
// (one pread/pwrite per call, no thread-pool hop) and on a FileHandle for serve (which must
// not block its clients). One rule for both: at most MAX_IOV buffers per vectored write, and
// a short vectored write finished buffer by buffer.

import * as fs from 'node:fs';
import { ShortRead } from '../../errors.ts';

/** Buffers per pwritev: the kernel's UIO_MAXIOV. */
export const MAX_IOV = 1024;

/** The buffers of `parts` from byte `skip` on (what a short vectored write left). */
function after(parts: readonly Uint8Array[], skip: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const p of parts) {
    if (skip >= p.length) skip -= p.length;
    else {
      rest.push(skip ? p.subarray(skip) : p);
      skip = 0;
    }
  }
  return rest;
}

const total = (parts: readonly Uint8Array[]) => parts.reduce((n, p) => n + p.length, 0);

/** pread into all of `into`, looping over short reads; returns the bytes read (fewer only at the end). */
export function readFully(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = fs.readSync(fd, into, got, into.length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** readFully on libuv's thread pool, so that the caller can work meanwhile (a walk parses one chunk while the next is read). */
export async function readFullyLater(fd: number, into: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < into.length) {
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, into, got, into.length - got, position + got, (e, bytes) => (e ? reject(e) : resolve(bytes))),
    );
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** pwrite all of `data` at `position`, looping over short writes. */
export function writeAll(fd: number, data: Uint8Array, position: number): void {
  let done = 0;
  while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done, position + done);
}

/** pwritev a run of buffers that are contiguous on the target, looping over short writes; returns the bytes written. */
export function writevAll(fd: number, parts: Uint8Array[], position: number): number {
  if (parts.length === 1) {
    writeAll(fd, parts[0]!, position);
    return parts[0]!.length;
  }
  let at = position;
  for (let i = 0; i < parts.length; i += MAX_IOV) {
    const batch = parts.length > MAX_IOV ? parts.slice(i, i + MAX_IOV) : parts;
    const size = total(batch);
    const done = fs.writevSync(fd, batch, at);
    let rest = at + done;
    for (const p of done < size ? after(batch, done) : []) {
      writeAll(fd, p, rest);
      rest += p.length;
    }
    at += size;
  }
  return at - position;
}

/** Exactly `length` bytes at `position`; a file that ends first is a ShortRead. */
export async function readFull(fh: fs.promises.FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  for (let got = 0; got < length; ) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new ShortRead(position + got);
    got += bytesRead;
  }
  return buf;
}

/** Write all of `data` at `position`, looping over short writes. */
export async function writeFull(fh: fs.promises.FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** writev a run of buffers that are contiguous in the file, looping over short writes. */
export async function writevFull(
  fh: fs.promises.FileHandle,
  parts: readonly Uint8Array[],
  position: number,
): Promise<void> {
  for (let i = 0; i < parts.length; i += MAX_IOV) {
    const batch = parts.slice(i, i + MAX_IOV);
    const size = total(batch);
    const { bytesWritten } = await fh.writev(batch, position);
    let rest = position + bytesWritten;
    for (const p of bytesWritten < size ? after(batch, bytesWritten) : []) {
      await writeFull(fh, p, rest);
      rest += p.length;
    }
    position += size;
  }
}
