// What every annotator shares: the interval map it is built into, block-sized reads and
// additions, and answering queries from the map (decoding self-describing intervals).

import type { ByteSource } from '../reader.ts';
import { readAt } from './bytes.ts';
import {
  answer,
  IntervalMap,
  type Annotator,
  type FsName,
  type Interval,
  type Piece,
  type What,
  type WriteContext,
} from './what.ts';

export abstract class MapAnnotator implements Annotator {
  abstract readonly fs: FsName;
  readonly map = new IntervalMap();

  constructor(
    /** The state being read (ext4 swaps in a view with its journal applied). */
    protected src: ByteSource,
    readonly blockSize: number,
  ) {}

  protected block(n: number, count = 1): Promise<Uint8Array> {
    return readAt(this.src, n * this.blockSize, count * this.blockSize);
  }

  protected add(firstBlock: number, count: number, what: What, slice?: Interval['slice']): void {
    this.map.add(firstBlock * this.blockSize, (firstBlock + count) * this.blockSize, what, slice);
  }

  intervals(): readonly Interval[] {
    return this.map.all();
  }

  needsBytes(start: number, end: number): boolean {
    return this.map.hasContent(start, end);
  }

  what(start: number, end: number, bytes?: Uint8Array, context?: WriteContext): Promise<Piece[]> {
    return answer(this.map, start, end, (iv, b) => this.decode(iv, b, context), bytes);
  }

  /** A self-describing interval, named from its bytes. */
  protected abstract decode(
    iv: Interval,
    bytes: Uint8Array,
    context: WriteContext | undefined,
  ): Piece[] | Promise<Piece[]>;
}
