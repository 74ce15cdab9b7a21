// Bytes of an NBD client's stream, handed out as the protocol asks for them, with the
// stream paused while enough is buffered: the back-pressure both phases rely on.

import type { Duplex } from 'node:stream';

/**
 * Bytes from a stream on demand. Reads ahead at most `highWater` bytes, or what a pending
 * read asks for if that is more, then pauses the stream: a client whose requests wait (see
 * serveConnection) is held back by its socket instead of being buffered here.
 */
export class Receiver {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private wanted = 0;
  private waiter: (() => void) | undefined;
  private ended = false;
  private halted = false;

  constructor(
    private readonly stream: Duplex,
    private readonly highWater = 1 << 20,
  ) {
    stream.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.buffered += c.length;
      if (this.buffered >= Math.max(this.highWater, this.wanted)) stream.pause();
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Stop handing out bytes: pending and later reads resolve to undefined. */
  stop(): void {
    this.halted = true;
    this.ended = true;
    this.stream.pause();
    this.wake();
  }

  /** Exactly `n` bytes, or undefined when the stream ended first. */
  async read(n: number): Promise<Buffer | undefined> {
    this.wanted = n;
    try {
      while (this.buffered < n && !this.halted) {
        if (this.ended) return undefined;
        if (this.stream.isPaused()) this.stream.resume();
        await new Promise<void>((r) => (this.waiter = r));
      }
    } finally {
      this.wanted = 0;
    }
    return this.halted ? undefined : this.take(n);
  }

  /** Drop `n` bytes as they arrive (a payload we refuse), never holding more than a chunk. */
  async skip(n: number): Promise<boolean> {
    while (n > 0) {
      const got = await this.read(Math.min(n, Math.max(1, Math.min(this.buffered, 1 << 20))));
      if (!got) return false;
      n -= got.length;
    }
    return true;
  }

  private take(n: number): Buffer {
    // A zero-length request may arrive with nothing behind it.
    if (n === 0) return Buffer.alloc(0);
    let out: Buffer;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - at);
        c.copy(out, at, 0, k);
        at += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    if (this.buffered < this.highWater && this.stream.isPaused() && !this.halted) this.stream.resume();
    return out;
  }
}
