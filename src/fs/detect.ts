// Which file system a device state holds, from its superblock, and its annotator.

import type { ByteSource } from '../reader.ts';
import { btrfsAnnotator, isBtrfs } from './btrfs.ts';
import { ext4Annotator, isExt4 } from './ext4.ts';
import type { Annotator, FsName } from './what.ts';
import { isXfs, xfsAnnotator } from './xfs.ts';
import { FsError } from '../errors.ts';

const KINDS: readonly {
  fs: FsName;
  is: (s: ByteSource) => Promise<boolean>;
  build: (s: ByteSource) => Promise<Annotator>;
}[] = [
  { fs: 'ext4', is: isExt4, build: ext4Annotator },
  { fs: 'xfs', is: isXfs, build: xfsAnnotator },
  { fs: 'btrfs', is: isBtrfs, build: btrfsAnnotator },
];

/** An annotator for the state, or undefined when no known file system is on it. */
export async function annotate(src: ByteSource): Promise<Annotator | undefined> {
  for (const k of KINDS) {
    if (!(await k.is(src))) continue;
    try {
      return await k.build(src);
    } catch (e) {
      throw new FsError(k.fs, e);
    }
  }
  return undefined;
}
