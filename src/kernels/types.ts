// The kernel interface: one shape for the WebAssembly kernels and their TypeScript fallback.

import { KernelError } from '../errors.ts';
import { isValidSectorSize, MAX_SECTORSIZE, MIN_SECTORSIZE } from '../format.ts';

export interface Xxh64Stream {
  update(data: Uint8Array): Xxh64Stream;
  /** The XXH64 of everything so far; the stream stays usable. */
  digest(): bigint;
}

export interface Fingerprint {
  /** data.length is a multiple of sectorSize; sectors [sector, sector + data.length/sectorSize) now hold data */
  write(sector: number, data: Uint8Array): void;
  /** sectors now read as zeros (a discard) */
  zero(sector: number, nrSectors: number): void;
  /**
   * Order-independent digest of the device content: sum mod 2^64 over every sector whose
   * content is not all zeros of xxh64(u64le(sectorIndex) || content, seed 0). All-zero sectors
   * contribute nothing, so the value depends only on content, never on history.
   */
  value(): bigint;
  /** an independent copy (for exploring states) */
  clone(): Fingerprint;
  /** release memory (wasm tables); the fingerprint is unusable afterwards */
  dispose(): void;
}

export type ApplyOp =
  | { kind: 'write'; offset: number; data: Uint8Array }
  | { kind: 'zero'; offset: number; length: number };

export interface Kernels {
  readonly kind: 'wasm' | 'js';
  /** Running CRC-32C: crc32c(b, crc32c(a)) === crc32c(concat(a, b)). */
  crc32c(data: Uint8Array, crc?: number): number;
  xxh64(data: Uint8Array, seed?: bigint): bigint;
  xxh64Stream(seed?: bigint): Xxh64Stream;
  fingerprint(sectorSize: number): Fingerprint;
  /** copy payloads into image at byte offsets and zero-fill ranges, one call per batch; ops are applied in order */
  apply(image: Uint8Array, ops: readonly ApplyOp[]): void;
}

export function checkSectorSize(sectorSize: number): void {
  if (!isValidSectorSize(sectorSize)) {
    throw new KernelError(
      `fingerprint sector size ${sectorSize} is not a power of two from ${MIN_SECTORSIZE} to ${MAX_SECTORSIZE}`,
    );
  }
}

export function checkSectorData(sectorSize: number, data: Uint8Array): void {
  if (data.length % sectorSize !== 0) {
    throw new KernelError(
      `fingerprint write of ${data.length} bytes is not a whole number of ${sectorSize}-byte sectors`,
    );
  }
}
