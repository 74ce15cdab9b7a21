// Large buffers kept from one replay to the next. A long-lived process (the replay-log
// server, explore) replays thousands of times; allocating the plan's read buffer and arena,
// or DirectWriter's memory, afresh each time cost it page faults and full garbage collections
// (their bytes count as external memory). A buffer is taken whole and given back after, so replays that run at the
// same time never share one.

export class Scratch<T extends { readonly byteLength: number }> {
  private spare: T | undefined;

  constructor(private readonly make: (bytes: number) => T) {}

  /** A buffer of at least `bytes` (its contents are left over from before). */
  take(bytes: number): T {
    const s = this.spare;
    if (s && s.byteLength >= bytes) {
      this.spare = undefined;
      return s;
    }
    return this.make(bytes);
  }

  /** Keep `buffer` for the next take, when it is larger than the one kept. */
  give(buffer: T): void {
    if (!this.spare || this.spare.byteLength < buffer.byteLength) this.spare = buffer;
  }
}
