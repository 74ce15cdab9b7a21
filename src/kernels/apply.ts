// Batch apply in plain TypeScript: each op is one native copy or fill.

import type { ApplyOp } from './types.ts';

export function apply(image: Uint8Array, ops: readonly ApplyOp[]): void {
  for (const op of ops) {
    if (op.kind === 'write') image.set(op.data, op.offset);
    else image.fill(0, op.offset, op.offset + op.length);
  }
}
