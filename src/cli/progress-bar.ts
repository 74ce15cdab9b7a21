// A one-line progress bar on stderr for long operations, drawn only on a terminal.

export class ProgressBar {
  private readonly started = performance.now();
  private lastDraw = 0;

  constructor(
    private readonly enabled: boolean,
    private readonly totalEntries: number,
    private readonly totalBytes: number,
  ) {}

  update(entries: number, bytes: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const secs = (now - this.started) / 1000;
    const rate = bytes / 1048576 / Math.max(secs, 1e-3);
    const frac = this.totalBytes ? bytes / this.totalBytes : entries / Math.max(this.totalEntries, 1);
    const eta = frac > 0 ? secs / frac - secs : 0;
    const bar = '#'.repeat(Math.round(frac * 20)).padEnd(20, '.');
    process.stderr.write(
      `\r[${bar}] ${entries}/${this.totalEntries} entries, ${(bytes / 1048576).toFixed(0)} MiB, ${rate.toFixed(0)} MiB/s, ETA ${eta.toFixed(0)} s `,
    );
  }

  done(): void {
    if (this.enabled && this.lastDraw) process.stderr.write('\r\x1b[K');
  }
}
