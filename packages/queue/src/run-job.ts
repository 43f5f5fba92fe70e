import { z } from 'zod';

/** Queue that carries export runs. */
export const RUNS_QUEUE = 'export-runs';

/** Runs that failed for good (permanent error or attempts exhausted), with their last error. */
export const DEAD_LETTER_QUEUE = 'export-runs-dead-letter';

/** The kind of every run job (the first version also used it as the job name). */
export const RUN_JOB_KIND = 'export-run';

/** One interval of one export, as the product handles it: times in epoch ms. */
export interface RunJob {
  run_id: string;
  export_id: string;
  /** The export's name, for people reading the queue (Bull Board). */
  export_name?: string;
  data_interval_start: number;
  data_interval_end: number;
}

/** An instant as a job stores it: ISO 8601 (epoch ms in jobs of the first version). */
const instant = z.union([z.number().int(), z.iso.datetime().transform((value) => Date.parse(value))]);

/**
 * The payload of a run job as stored in Redis: ISO times, so Bull Board shows
 * readable data. Checked when a job is read back.
 */
export const runJobSchema = z.object({
  kind: z.literal(RUN_JOB_KIND).optional(),
  run_id: z.string().min(1),
  export_id: z.string().min(1),
  export_name: z.string().optional(),
  data_interval_start: instant,
  data_interval_end: instant,
});

/** The closed set of jobs: one kind, one payload type, checked at the boundary where a job is read. */
export function parseJob(name: string, data: unknown): RunJob {
  const parsed = runJobSchema.safeParse(data);
  if (!parsed.success || (parsed.data.kind === undefined && name !== RUN_JOB_KIND)) {
    throw new Error(`job '${name}' is not a run job: ${parsed.error?.message ?? 'no kind'}`);
  }
  const { kind: _, ...job } = parsed.data;
  return job;
}

/** The payload stored for a run. */
export function jobPayload(run: RunJob): Record<string, unknown> {
  return {
    kind: RUN_JOB_KIND,
    run_id: run.run_id,
    export_id: run.export_id,
    ...(run.export_name === undefined ? {} : { export_name: run.export_name }),
    data_interval_start: new Date(run.data_interval_start).toISOString(),
    data_interval_end: new Date(run.data_interval_end).toISOString(),
  };
}

/** A job's name: the export and the interval, as people look for them (`events to S3 · 2024-01-01T00:00:00Z`). */
export function jobName(run: RunJob): string {
  const start = new Date(run.data_interval_start).toISOString().replace('.000Z', 'Z');
  const name = run.export_name ?? run.export_id;
  return `${name.length > 80 ? `${name.slice(0, 79)}…` : name} · ${start}`;
}
