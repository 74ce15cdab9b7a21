// Hot-path kernels: CRC-32C, XXH64 and the state fingerprint, as WebAssembly (assembly/) with
// a plain TypeScript fallback of the same behaviour; batch apply is TypeScript in both sets,
// the faster way (bench/apply).

import { jsKernels } from './js.ts';
import type { Kernels } from './types.ts';
import { instantiateWasm, wasmSupported } from './wasm.ts';

export type { ApplyOp, Fingerprint, Kernels, Xxh64Stream } from './types.ts';
export { jsKernels };

export interface KernelOptions {
  /** false: the TypeScript kernels even where WebAssembly runs (the Node side sets it from LOGWRITES_NO_WASM). */
  readonly wasm?: boolean;
}

let best: Promise<Kernels> | undefined;

/** The WebAssembly kernels where this engine runs them and `wasm` is not false, else the TypeScript ones. */
export function loadKernels(opts: KernelOptions = {}): Promise<Kernels> {
  if (opts.wasm === false) return Promise.resolve(jsKernels);
  best ??= wasmSupported() ? instantiateWasm() : Promise.resolve(jsKernels);
  return best;
}
