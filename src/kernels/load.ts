// Hot-path kernels: CRC-32C, XXH64, batch apply and the state fingerprint, as WebAssembly
// (assembly/) with a plain TypeScript fallback of the same behaviour.

import { jsKernels } from './js.ts';
import type { Kernels } from './types.ts';
import { instantiateWasm, wasmSupported } from './wasm.ts';

export type { ApplyOp, Fingerprint, Kernels, Xxh64Stream } from './types.ts';
export { jsKernels };

let loaded: Promise<Kernels> | undefined;

function wasmDisabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.LOGWRITES_NO_WASM === '1';
}

/** The WebAssembly kernels where this engine runs them and LOGWRITES_NO_WASM is not 1, else the TypeScript ones. */
export function loadKernels(): Promise<Kernels> {
  loaded ??= wasmDisabled() || !wasmSupported() ? Promise.resolve(jsKernels) : instantiateWasm();
  return loaded;
}
