// The C runtime behaviour a drop-in for a C tool has to reproduce: GNU getopt_long's parsing
// and messages, strtoull(x, &end, 0), and stdio's buffering of stdout (scripts see the
// interleaving of our output with a child's, so it has to be the same).

import * as fs from 'node:fs';
import { tty } from '../io/lazy.ts';

export type ArgKind = 'none' | 'required';
export interface LongOption {
  readonly name: string;
  readonly arg: ArgKind;
  /** What getopt_long returns for it (struct option's `val`); options sharing arg and val never clash as prefixes. */
  readonly val?: string;
}

/** One parsed option: a long option by name, `-v` as 'v', or '?' after a reported error. */
export type Parsed = { readonly name: string; readonly value?: string } | { readonly name: '?' };

const sameKind = (a: LongOption, b: LongOption) => a.arg === b.arg && a.val === b.val;

/**
 * GNU getopt_long (glibc) over `args` (argv without argv[0]) with short options `shortOpts`
 * (flags only) and `longOpts`. A prefix of long options is accepted when it names one of
 * them, or several that take the same argument and return the same value (glibc takes the
 * first); otherwise it is ambiguous. Non-options are passed over (all of them after the
 * first under POSIXLY_CORRECT), `--` ends options. Errors go to `warn` in glibc's words
 * and yield '?'.
 */
export function* getoptLong(
  args: readonly string[],
  shortOpts: string,
  longOpts: readonly LongOption[],
  prog: string,
  warn: (line: string) => void,
): Generator<Parsed> {
  const posixly = process.env.POSIXLY_CORRECT !== undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return;
    if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      let opt = longOpts.find((o) => o.name === name);
      if (!opt) {
        const matches = longOpts.filter((o) => o.name.startsWith(name));
        const first = matches[0];
        if (!first) {
          warn(`${prog}: unrecognized option '${a}'`);
          yield { name: '?' };
          return;
        }
        const clashing = matches.filter((o) => !sameKind(o, first));
        if (clashing.length) {
          const named = matches.filter((o) => o === first || clashing.includes(o));
          warn(`${prog}: option '${a}' is ambiguous; possibilities:${named.map((o) => ` '--${o.name}'`).join('')}`);
          yield { name: '?' };
          return;
        }
        opt = first;
      }
      if (opt.arg === 'none') {
        if (eq >= 0) {
          warn(`${prog}: option '--${opt.name}' doesn't allow an argument`);
          yield { name: '?' };
          return;
        }
        yield { name: opt.name };
      } else if (eq >= 0) yield { name: opt.name, value: body.slice(eq + 1) };
      else if (i + 1 < args.length) yield { name: opt.name, value: args[++i]! };
      else {
        warn(`${prog}: option '--${opt.name}' requires an argument`);
        yield { name: '?' };
        return;
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (const ch of a.slice(1)) {
        if (shortOpts.includes(ch)) yield { name: ch };
        else {
          warn(`${prog}: invalid option -- '${ch}'`);
          yield { name: '?' };
          return;
        }
      }
    } else if (posixly) return;
  }
}

const U64_MAX = (1n << 64n) - 1n;
const isSpace = (c: string) => c === ' ' || (c >= '\t' && c <= '\r');

/**
 * C's strtoull(s, &end, 0): optional space and sign, then 0x hex, 0 octal or decimal;
 * overflow saturates, a minus sign negates modulo 2^64. `end` is where parsing stopped
 * (0 when no digits were found, as C sets end to s itself).
 */
export function strtoull(s: string): { value: bigint; end: number } {
  let i = 0;
  while (i < s.length && isSpace(s[i]!)) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') negative = s[i++] === '-';
  let base = 10;
  if (s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
      base = 16;
      i += 2;
    } else base = 8;
  }
  const start = i;
  let value = 0n;
  let overflow = false;
  for (; i < s.length; i++) {
    const d = parseInt(s[i]!, base);
    if (Number.isNaN(d)) break;
    value = value * BigInt(base) + BigInt(d);
    if (value > U64_MAX) overflow = true;
  }
  if (i === start) return { value: 0n, end: 0 };
  if (overflow) return { value: U64_MAX, end: i };
  return { value: negative ? (U64_MAX + 1n - value) & U64_MAX : value, end: i };
}

/** A u64 option value as a JS number (values past 2^53 only ever compare as "huge"). */
export const u64Number = (v: bigint): number => Number(v);

/** Where a command's standard output goes. */
export interface Out {
  write(text: string): void;
  flush(): void;
}

/**
 * stdout as C stdio buffers it: line by line on a terminal, otherwise in blocks of the
 * file's st_blksize (capped at BUFSIZ, 8192), written out only when a block is full or at exit.
 */
export class CStdout implements Out {
  private readonly buf: Buffer;
  private used = 0;
  private readonly lineBuffered: boolean;

  constructor(private readonly fd = 1) {
    let blksize = 8192;
    let terminal = false;
    try {
      const st = fs.fstatSync(fd);
      if (st.blksize > 0 && st.blksize < 8192) blksize = st.blksize;
      // /dev/null and the other memory devices (major 1) are never terminals; asking saves
      // loading node:tty (and net and stream under it), a third of a start onto /dev/null.
      terminal = st.isCharacterDevice() && Math.floor(st.rdev / 256) % 4096 !== 1 && tty().isatty(fd);
    } catch {
      // A closed stdout: writes will fail later, as they would in C.
    }
    this.buf = Buffer.alloc(blksize);
    this.lineBuffered = terminal;
  }

  write(text: string): void {
    const bytes = Buffer.from(text, 'utf8');
    let at = 0;
    while (at < bytes.length) {
      const n = bytes.copy(this.buf, this.used, at);
      this.used += n;
      at += n;
      if (this.used === this.buf.length) this.flush();
    }
    if (this.lineBuffered && text.includes('\n')) this.flush();
  }

  flush(): void {
    let done = 0;
    try {
      while (done < this.used) done += fs.writeSync(this.fd, this.buf, done, this.used - done);
    } catch {
      // EPIPE and friends: C's exit-time flush fails silently too.
    }
    this.used = 0;
  }
}
