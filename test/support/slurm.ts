// A real single-node Slurm cluster for one test file: its own munge key and socket, its own
// slurm.conf (process tracking by /proc, no cgroups), ports and state directories in a
// temporary folder, so that parallel runs in other work trees do not meet.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { scratchDir } from './fixtures.ts';

const NEEDED = [
  ['munged', 'munge'],
  ['sbatch', 'slurm-wlm'],
  ['slurmctld', 'slurm-wlm'],
  ['slurmd', 'slurm-wlm'],
  ['sinfo', 'slurm-wlm'],
] as const;

export interface Slurm {
  /** The environment for Slurm's commands (SLURM_CONF). */
  readonly env: NodeJS.ProcessEnv;
  stop(): void;
}

const found = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

/** Two TCP ports free now (the kernel's choice, so concurrent runs get different ones). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Running (a zombie no one reaps is not). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Stop the daemon whose pid file this is, and wait until it is gone (SIGKILL after 10 s). */
function killPidFile(file: string): void {
  if (!fs.existsSync(file)) return;
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  if (!(pid > 0) || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; alive(pid); waited += 50) {
    if (waited === 10_000) process.kill(pid, 'SIGKILL');
    Atomics.wait(tick, 0, 0, 50);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start munged, slurmctld and slurmd in a folder of their own; a string says what is missing or what failed. */
export async function startSlurm(): Promise<Slurm | string> {
  const missing = NEEDED.filter(([cmd]) => !found(cmd));
  if (missing.length) return `needs ${missing.map(([cmd, pkg]) => `${cmd} (${pkg})`).join(', ')}`;
  if (process.getuid?.() !== 0) return 'needs root (slurmd runs the jobs as root here)';
  // munged wants its socket's directory (and those above it) open to all, and its key private.
  const dir = scratchDir('slurm');
  fs.chmodSync(dir, 0o755);
  for (const d of ['munge', 'state', 'spool', 'log']) fs.mkdirSync(path.join(dir, d), { mode: 0o700 });
  const key = path.join(dir, 'munge', 'munge.key');
  fs.writeFileSync(key, crypto.randomBytes(1024), { mode: 0o600 });
  const socket = path.join(dir, 'munge.socket');
  const pids = {
    munge: path.join(dir, 'munge', 'munged.pid'),
    ctld: path.join(dir, 'slurmctld.pid'),
    slurmd: path.join(dir, 'slurmd.pid'),
  };
  const conf = path.join(dir, 'slurm.conf');
  const env = { ...process.env, SLURM_CONF: conf };
  const stop = () => {
    killPidFile(pids.slurmd);
    killPidFile(pids.ctld);
    killPidFile(pids.munge);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const failed = (what: string, r: { stderr: Buffer | string }) => {
    stop();
    const log = ['slurmctld', 'slurmd'].map((d) => path.join(dir, 'log', `${d}.log`)).filter((f) => fs.existsSync(f));
    const tail = log.flatMap((f) =>
      fs
        .readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => /error|fatal/i.test(l))
        .slice(-2),
    );
    return `${what} did not start: ${[String(r.stderr).trim(), ...tail].filter(Boolean).join('; ')}`;
  };
  const munged = spawnSync('munged', [
    `--socket=${socket}`,
    `--key-file=${key}`,
    `--pid-file=${pids.munge}`,
    `--log-file=${path.join(dir, 'munge', 'munged.log')}`,
    `--seed-file=${path.join(dir, 'munge', 'munged.seed')}`,
  ]);
  if (munged.status !== 0) return failed('munged', munged);
  const host = os.hostname().split('.')[0]!;
  const [ctldPort, slurmdPort] = await freePorts(2);
  fs.writeFileSync(
    conf,
    `ClusterName=lw${crypto.randomBytes(3).toString('hex')}
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${socket}
SlurmctldPort=${ctldPort}
SlurmdPort=${slurmdPort}
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${pids.ctld}
SlurmdPidFile=${pids.slurmd}
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=${host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`,
  );
  const ctld = spawnSync('slurmctld', ['-i'], { env });
  if (ctld.status !== 0) return failed('slurmctld', ctld);
  const slurmd = spawnSync('slurmd', [], { env });
  if (slurmd.status !== 0) return failed('slurmd', slurmd);
  for (let waited = 0; waited < 30_000; waited += 500) {
    const state = spawnSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8' });
    if (state.stdout.trim() === 'idle') return { env, stop };
    await sleep(500);
  }
  return failed('the node (never idle)', spawnSync('sinfo', [], { env, encoding: 'utf8' }));
}
