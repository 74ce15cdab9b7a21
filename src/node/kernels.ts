// The kernels as Node processes load them: LOGWRITES_NO_WASM=1 picks the TypeScript ones (to
// compare them, or to rule the wasm out). The environment is read here, once, so that the
// core never looks at it.

import { loadKernels } from '../kernels/load.ts';

const wasm = process.env.LOGWRITES_NO_WASM !== '1';

export const loadNodeKernels = () => loadKernels({ wasm });
