// The CLI's stdout: whole lines in large synchronous writes. Its own module, so that the
// entry point (main.ts) flushes it without loading what the commands share.

import * as fs from 'node:fs';
import { EXIT_OK } from './exit.ts';

/** Lines to stdout, written synchronously in large pieces (pipes see whole lines). */
export class Lines {
  private buf: string[] = [];
  private size = 0;

  line(text: string): void {
    this.buf.push(text);
    this.size += text.length;
    if (this.size > 1 << 16) this.flush();
  }

  json(value: unknown): void {
    this.line(JSON.stringify(value));
  }

  flush(): void {
    if (!this.buf.length) return;
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    this.size = 0;
    try {
      fs.writeSync(1, text);
    } catch (e) {
      // A reader that went away (`| head`) ends the output, not the program with a trace.
      if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
      process.exit(EXIT_OK);
    }
  }
}

export const stdout = new Lines();
