import { z } from 'zod';

/** Queue that carries export runs. */
export const RUNS_QUEUE = 'export-runs';

/** Runs that failed for good (permanent error or attempts exhausted), with their last error. */
export const DEAD_LETTER_QUEUE = 'export-runs-dead-letter';

/** Name of the jobs that carry runs. */
export const RUN_JOB_NAME = 'export-run';

/** Payload of an `export-run` job: one interval of one export. Times in epoch ms. */
export const runJobSchema = z.strictObject({
  run_id: z.string().min(1),
  export_id: z.string().min(1),
  data_interval_start: z.number().int(),
  data_interval_end: z.number().int(),
});
export type RunJobData = z.infer<typeof runJobSchema>;

/** The closed set of jobs: one name, one payload type each, checked when read from Redis. */
export type QueueJob = { name: typeof RUN_JOB_NAME; data: RunJobData };

export function parseJob(name: string, data: unknown): QueueJob {
  if (name !== RUN_JOB_NAME) throw new Error(`unknown job name '${name}'`);
  return { name, data: runJobSchema.parse(data) };
}
