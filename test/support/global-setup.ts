// Once per test run: the entry indexes that the commands under test store go to a folder of
// the run's own, removed at its end, not to the developer's $HOME/.cache/logwrites (where the
// suite left ~30 of them per run). Tests that choose a cache folder of their own still do.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logwrites-test-cache-'));
  // Set before the test workers start, so that they and every command they spawn inherit it.
  process.env.LOGWRITES_CACHE_DIR = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
