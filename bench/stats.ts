// Shared benchmark helpers: timing, medians and the report table.

export const MiB = 1024 * 1024;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** MiB/s of `run` over `bytes`, once per round; candidates are interleaved round by round so drift hits all alike. */
export async function measure(
  candidates: readonly { name: string; run: () => unknown }[],
  bytes: number,
  rounds: number,
): Promise<Map<string, number[]>> {
  const speeds = new Map(candidates.map((c) => [c.name, [] as number[]]));
  for (let r = 0; r < rounds; r++) {
    for (const c of candidates) {
      (globalThis as { gc?: () => void }).gc?.();
      const t0 = performance.now();
      await c.run();
      const s = (performance.now() - t0) / 1000;
      speeds.get(c.name)!.push(bytes / MiB / s);
    }
  }
  return speeds;
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function args(defaults: { mib: number; rounds: number }): { mib: number; rounds: number } {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--mib') out.mib = Number(argv[++i]);
    else if (argv[i] === '--rounds') out.rounds = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]} (use --mib N --rounds N)`);
  }
  return out;
}
