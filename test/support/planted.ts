// Logs written with LogWriter for the explore tests, and the one with a planted ordering bug:
// a program that writes its data and then its commit record with no flush between (from
// transaction 3 on), and the checker that finds a commit without its data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Flag } from '../../src/format.ts';
import { LogWriter, type Io } from '../../src/writer.ts';
import { oracleRead, type OracleEntry } from './oracle.ts';

export const isData = (e: OracleEntry) => e.nrSectors > 0 && !(e.flags & Flag.MARK);

/** Write a log with LogWriter: `script` drives it; returns the log's bytes. */
export async function writeLog(
  sectorSize: number,
  script: (w: LogWriter, io: (io: Io) => Promise<void>) => Promise<void>,
): Promise<Uint8Array> {
  let bytes = new Uint8Array(1 << 16);
  let size = 0;
  const device = {
    write(offset: number, parts: readonly Uint8Array[]) {
      for (const p of parts) {
        if (offset + p.length > bytes.length) {
          const grown = new Uint8Array(Math.max(bytes.length * 2, offset + p.length));
          grown.set(bytes);
          bytes = grown;
        }
        bytes.set(p, offset);
        offset += p.length;
        size = Math.max(size, offset);
      }
    },
    sync() {},
  };
  const w = await LogWriter.create(device, { sectorSize });
  await script(w, (io) => w.complete(w.issue(io)));
  await w.close();
  return bytes.slice(0, size);
}

export interface PlantedLog {
  readonly file: string;
  /** `sh checker IMAGE`: exit 1 and "commit N without its data" when a commit record's data is absent. */
  readonly checker: string;
  readonly S: number;
  readonly COMMIT: number;
  readonly dataSector: (n: number) => number;
  readonly oracle: ReturnType<typeof oracleRead>;
  readonly dataEntry: (n: number) => number;
  readonly commitEntry: (n: number) => number;
  /** The states omit-one finds failing: commit 3, 4 and 5 without their data. */
  readonly expectedFailures: string[];
}

/** The planted log and its checker, written into `dir`. */
export async function plantedLog(dir: string): Promise<PlantedLog> {
  const S = 512;
  const COMMIT = 0;
  const dataSector = (n: number) => 100 + n;
  const text = (s: string) => {
    const b = new Uint8Array(S);
    b.set(new TextEncoder().encode(s));
    return b;
  };
  // Transactions 1 and 2 flush between data and commit (correct); 3 to 5 do not (the bug).
  const log = await writeLog(S, async (w, io) => {
    for (let n = 1; n <= 5; n++) {
      await w.mark(`txn${n}`);
      await io({ kind: 'write', sector: dataSector(n), data: [text(`data ${n}`)] });
      if (n <= 2) await io({ kind: 'flush' });
      await io({ kind: 'write', sector: COMMIT, data: [text(`commit ${n}`)] });
      await io({ kind: 'flush' });
    }
  });
  const file = path.join(dir, 'planted.log');
  fs.writeFileSync(file, log);
  const checker = path.join(dir, 'check-commit.sh');
  fs.writeFileSync(
    checker,
    `img="$1"
c=$(dd if="$img" bs=${S} skip=${COMMIT} count=1 2>/dev/null | tr -d '\\000')
[ -z "$c" ] && exit 0
n=\${c#commit }
d=$(dd if="$img" bs=${S} skip=$((100 + n)) count=1 2>/dev/null | tr -d '\\000')
[ "$d" = "data $n" ] && exit 0
echo "commit $n without its data"
exit 1
`,
  );
  const oracle = oracleRead(file);
  const dataEntry = (n: number) => oracle.entries.find((e) => e.sector === dataSector(n) && isData(e))!.index;
  const commitEntry = (n: number) => oracle.entries.filter((e) => e.sector === COMMIT && isData(e))[n - 1]!.index;
  const expectedFailures = [3, 4, 5].map((n) => `${commitEntry(n) + 1}-${dataEntry(n)}`);
  return { file, checker, S, COMMIT, dataSector, oracle, dataEntry, commitEntry, expectedFailures };
}
