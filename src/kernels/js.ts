// The plain TypeScript kernels: used where WebAssembly is unavailable or loadKernels is told { wasm: false }.

import { apply } from './apply.ts';
import { crc32c } from './crc32c.ts';
import { MapFingerprint } from './fingerprint.ts';
import { checkSectorSize, type Kernels } from './types.ts';
import { xxh64, xxh64Stream } from './xxh64.ts';

export const jsKernels: Kernels = {
  kind: 'js',
  crc32c,
  xxh64,
  xxh64Stream,
  fingerprint: (sectorSize) => {
    checkSectorSize(sectorSize);
    return MapFingerprint.create(sectorSize);
  },
  apply,
};
