// WebAssembly kernels (filled in by the hot-path work).
export function version(): i32 {
  return 1;
}
