// `logwrites demo` (what `npm start` runs): a real log written by the Linux kernel under ext4,
// replayed mark by mark into a scratch image, each state checked against what the kernel
// recorded when it wrote the log: file checksums at every mark and the final device hash.

import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { LogReader } from '../../reader.ts';
import { replayLastWrites } from '../../replay/last-write.ts';
import { scanRange, type Point } from '../../range.ts';
import { openSource } from '../io/file.ts';
import { openTarget } from '../io/target.ts';
import { DemoError } from '../../errors.ts';

interface Manifest {
  device_size: number;
  marks: { name: string; files: Record<string, string> }[];
  final_device_sha256: string;
}

/** The sample the package ships (package.json `files`): ext4 writing 200 files, each fsync'ed, a mark every 20. */
const SAMPLE = 'test/fixtures/kernel/ext4-fsync-many';

/** Find the sample from wherever this module was bundled to. */
function sampleDir(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, SAMPLE);
    if (fs.existsSync(path.join(candidate, 'manifest.json'))) return candidate;
  }
  throw new DemoError(`the bundled sample log (${SAMPLE}) is missing from this installation`);
}

const has = (cmd: string) => spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** md5 of each file in the image as ext4 would show it after mounting (journal replayed on a copy), from one debugfs rdump. */
function fileChecksums(image: string, files: string[], scratch: string): Record<string, string | null> {
  const copy = path.join(scratch, 'journal-replayed.img');
  const tree = path.join(scratch, 'files');
  fs.copyFileSync(image, copy);
  fs.mkdirSync(tree);
  spawnSync('e2fsck', ['-fy', '-E', 'journal_only', copy], { stdio: 'ignore' });
  spawnSync('debugfs', ['-R', `rdump / ${tree}`, copy], { stdio: 'ignore' });
  const out: Record<string, string | null> = {};
  for (const f of files) {
    const file = path.join(tree, f);
    out[f] = fs.existsSync(file) ? crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex') : null;
  }
  fs.rmSync(copy);
  fs.rmSync(tree, { recursive: true });
  return out;
}

/** Run the demo, each line of its report given to `say`; true when every check passed. */
export async function runDemo(say: (line: string) => void): Promise<boolean> {
  const dir = sampleDir();
  const manifest: Manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'logwrites-demo-'));
  const log = path.join(scratch, 'log.img');
  const image = path.join(scratch, 'disk.img');
  let ok = true;
  try {
    fs.writeFileSync(log, zlib.gunzipSync(fs.readFileSync(path.join(dir, 'log.img.gz'))));
    fs.writeFileSync(image, '');
    fs.truncateSync(image, manifest.device_size);
    const e2fs = has('e2fsck') && has('debugfs');
    say(
      `sample: a log the Linux kernel's dm-log-writes wrote while ext4 ran a workload (${path.relative(process.cwd(), dir) || dir})`,
    );
    say(
      `replaying it mark by mark into ${image} (${manifest.device_size / 1048576} MiB)${e2fs ? ', checking each state with e2fsck -fn and the files against the kernel-side md5s' : ' (e2fsprogs not installed: file checks skipped)'}`,
    );
    const source = openSource(log);
    try {
      const reader = await LogReader.open(source);
      let from: Point | undefined;
      const target = openTarget(image);
      try {
        for (const mark of [...manifest.marks.map((m) => m.name), undefined]) {
          const range = await scanRange(reader, { ...(from ? { from } : {}), ...(mark ? { to: { mark } } : {}) }, true);
          const t0 = performance.now();
          const r = await replayLastWrites(reader, target, range.map!);
          const ms = performance.now() - t0;
          const label = mark ? `mark ${mark}` : 'end of log';
          let line = `${label.padEnd(16)} entries ${range.start.index}..${range.last?.index}: ${((r.bytesWritten + r.bytesZeroed) / 1048576).toFixed(2)} MiB in ${ms.toFixed(0)} ms`;
          const expected = manifest.marks.find((m) => m.name === mark)?.files;
          if (e2fs && expected) {
            const fsck = spawnSync('e2fsck', ['-fn', image], { stdio: 'ignore' }).status;
            const sums = fileChecksums(image, Object.keys(expected), scratch);
            const good = Object.entries(expected).filter(([f, md5]) => sums[f] === md5).length;
            line += `; e2fsck ${fsck === 0 ? 'clean' : `FAILED (${fsck})`}; files ${good}/${Object.keys(expected).length} match`;
            ok &&= fsck === 0 && good === Object.keys(expected).length;
          }
          say(line);
          if (range.last) from = { entry: range.last.index + 1 };
        }
      } finally {
        target.close();
      }
    } finally {
      source.close();
    }
    const digest = sha256(image);
    const same = digest === manifest.final_device_sha256;
    ok &&= same;
    say(`final device sha256 ${digest} ${same ? 'matches' : 'DIFFERS FROM'} the kernel's data device`);
    say(ok ? 'all checks passed' : 'SOME CHECKS FAILED');
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return ok;
}
