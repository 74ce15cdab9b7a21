// Which shard of a run this process is, from what a batch engine tells each task of an array:
// Slurm job arrays (SLURM_ARRAY_TASK_ID, _COUNT, _MIN, _MAX, _STEP) and Kubernetes Indexed
// Jobs (JOB_COMPLETION_INDEX, 0-based; the count is not in a pod's environment, so it is
// given as --shards N or LOGWRITES_SHARDS). The caller reads the environment and passes the
// values in.

import type { Shard } from './report.ts';
import { ShardError } from '../errors.ts';

export interface ShardEnvironment {
  readonly SLURM_ARRAY_TASK_ID?: string | undefined;
  readonly SLURM_ARRAY_TASK_COUNT?: string | undefined;
  readonly SLURM_ARRAY_TASK_MIN?: string | undefined;
  readonly SLURM_ARRAY_TASK_MAX?: string | undefined;
  readonly SLURM_ARRAY_TASK_STEP?: string | undefined;
  readonly JOB_COMPLETION_INDEX?: string | undefined;
  readonly LOGWRITES_SHARDS?: string | undefined;
}

export const SHARD_VARIABLES = [
  'SLURM_ARRAY_TASK_ID',
  'SLURM_ARRAY_TASK_COUNT',
  'SLURM_ARRAY_TASK_MIN',
  'SLURM_ARRAY_TASK_MAX',
  'SLURM_ARRAY_TASK_STEP',
  'JOB_COMPLETION_INDEX',
  'LOGWRITES_SHARDS',
] as const;

function integer(env: ShardEnvironment, name: keyof ShardEnvironment): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new ShardError(`--shard auto: ${name}=${text} is not a number`);
  return Number(text);
}

/** Task `id` of a Slurm array as a shard: arrays must be ranges (0-N, or with a step) so that every shard has a task. */
function slurmShard(env: ShardEnvironment, id: number, shards: number | undefined): Shard {
  const count = integer(env, 'SLURM_ARRAY_TASK_COUNT');
  const min = integer(env, 'SLURM_ARRAY_TASK_MIN') ?? 0;
  const max = integer(env, 'SLURM_ARRAY_TASK_MAX');
  const step = integer(env, 'SLURM_ARRAY_TASK_STEP') ?? 1;
  if (count === undefined || max === undefined)
    throw new ShardError(
      '--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX is not',
    );
  if (step < 1 || (max - min) / step + 1 !== count || (id - min) % step !== 0) {
    throw new ShardError(
      `--shard auto: the Slurm array (${count} tasks, ids ${min}..${max}) is not a range; submit with --array=0-${count - 1}, or give --shard i/n`,
    );
  }
  if (shards !== undefined && shards !== count)
    throw new ShardError(`--shard auto: --shards ${shards} but the Slurm array has ${count} tasks`);
  return { index: (id - min) / step + 1, count };
}

/** This task's shard, from the engine's variables; `shards` is --shards N when given. */
export function autoShard(env: ShardEnvironment, shards?: number): Shard {
  const slurmId = integer(env, 'SLURM_ARRAY_TASK_ID');
  if (slurmId !== undefined) return slurmShard(env, slurmId, shards);
  const index = integer(env, 'JOB_COMPLETION_INDEX');
  if (index === undefined) {
    throw new ShardError(
      '--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give --shard i/n',
    );
  }
  const count = shards ?? integer(env, 'LOGWRITES_SHARDS');
  if (count === undefined || count < 1)
    throw new ShardError(
      "--shard auto: JOB_COMPLETION_INDEX is set, but not how many shards there are: give --shards N (the Job's completions) or LOGWRITES_SHARDS",
    );
  if (index >= count)
    throw new ShardError(
      `--shard auto: JOB_COMPLETION_INDEX ${index} is not below the shard count ${count} (--shards must equal the Job's completions)`,
    );
  return { index: index + 1, count };
}
