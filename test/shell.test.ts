// The addon's system(3) (src/node/addon/shell.c), which replay-log's --fsck runs checkers
// through: glibc's wait statuses, the caller's stdio, and SIGINT ignored by the caller while
// the command runs, as system() does, its own handler back after.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadNative } from '../src/node/io/native.ts';

const ADDON = path.resolve(import.meta.dirname, '../dist/native.node');
const native = loadNative();

/** Run `script` in a Node of its own with the addon as `n`: its stdout, stderr and status. */
function inNode(script: string) {
  const r = spawnSync(process.execPath, ['-e', `const n = require(${JSON.stringify(ADDON)});\n${script}`], {
    encoding: 'utf8',
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe.skipIf(!native)("the addon's system(3)", () => {
  it("returns the wait status glibc's system() does", () => {
    expect(native!.system('exit 0')).toBe(0);
    expect(native!.system('exit 3')).toBe(3 << 8);
    expect(native!.system('kill -9 $$')).toBe(9);
    expect(native!.system('exec /nonexistent-logwrites-checker 2>/dev/null')).toBe(127 << 8);
  });

  it("gives the command the caller's stdout and stderr, which Node marks close-on-exec", () => {
    expect(inNode(`n.system('echo out; echo err >&2; exit 4') === 4 << 8 || process.exit(1);`)).toEqual({
      stdout: 'out\n',
      stderr: 'err\n',
      status: 0,
    });
  });

  it('leaves SIGINT to the command while it runs', () => {
    const r = inNode(`
      let int = 0;
      process.on('SIGINT', () => int++);
      const status = n.system('kill -INT $PPID');
      setTimeout(() => console.log(JSON.stringify({ int, status })), 100);
    `);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ int: 0, status: 0 });
    // After the command, the caller's own SIGINT handler is back.
    const after = inNode(`
      let int = 0;
      process.on('SIGINT', () => int++);
      n.system('true');
      process.kill(process.pid, 'SIGINT');
      setTimeout(() => console.log(int), 100);
    `);
    expect(after.stdout).toBe('1\n');
  });
});

if (!native) {
  describe("the addon's system(3)", () => {
    it.skip('skipped: the native addon is not built (npm install builds it)', () => {});
  });
}
