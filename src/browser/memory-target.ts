// A device image in memory as a ReplayTarget: the viewer's "state at a point". Payloads land
// through the WebAssembly apply kernel; watchers see every change (fingerprints, undo copies).

import type { Kernels } from '../kernels/load.ts';
import type { ReplayTarget } from '../replay/loop.ts';
import { ImageTooSmall } from '../errors.ts';

/** Told about each change to the image: `before` while the old bytes are still there. */
export interface ImageWatcher {
  before?(offset: number, length: number): void;
  written?(offset: number, data: Uint8Array): void;
  zeroed?(offset: number, length: number): void;
}

export function memoryTarget(
  image: Uint8Array,
  kernels: Pick<Kernels, 'apply'>,
  watchers: readonly ImageWatcher[] = [],
): ReplayTarget {
  const check = (offset: number, length: number) => {
    if (offset + length > image.length) throw new ImageTooSmall(offset + length, image.length);
  };
  return {
    write(offset, parts) {
      let at = offset;
      const ops = parts.map((data) => {
        const op = { kind: 'write' as const, offset: at, data };
        at += data.length;
        return op;
      });
      check(offset, at - offset);
      for (const w of watchers) w.before?.(offset, at - offset);
      kernels.apply(image, ops);
      for (const w of watchers) for (const op of ops) w.written?.(op.offset, op.data);
    },
    zero(offset, length) {
      check(offset, length);
      for (const w of watchers) w.before?.(offset, length);
      kernels.apply(image, [{ kind: 'zero', offset, length }]);
      for (const w of watchers) w.zeroed?.(offset, length);
    },
    sync() {},
  };
}
