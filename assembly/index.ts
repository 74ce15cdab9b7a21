// WebAssembly kernels for logwrites: CRC-32C, XXH64 and the state fingerprint.
// The host (src/kernels/wasm.ts) copies input into a scratch area and calls these with raw
// pointers; everything else is allocated with heap.alloc/free (TLSF, "minimal" runtime).

export { crc32c } from './crc32c';
export { xxh64, xxh64Init, xxh64Update, xxh64Digest, XXH64_STATE_BYTES } from './xxh64';
export { fpNew, fpFree, fpClone, fpValue, fpWrite, fpZero } from './fingerprint';

/** Room in front of the scratch area, for fpWrite's index prefix. */
const HEADROOM: usize = 16;
let scratchBase: usize = 0;
let scratchSize: usize = 0;

/** A scratch area of at least `size` bytes (with HEADROOM writable bytes before it). */
export function scratch(size: usize): usize {
  if (size > scratchSize) {
    if (scratchBase) heap.free(scratchBase);
    scratchBase = heap.alloc(size + HEADROOM);
    scratchSize = size;
  }
  return scratchBase + HEADROOM;
}

export function alloc(size: usize): usize {
  return heap.alloc(size);
}
