import type { RunJob, RunQueue } from '@bx/queue';
import type { CreateAnswer, Store } from '@bx/store';

/** Runs created, then offered to the queue, per step. */
const STEP = 1000;
/** Steps whose jobs may still be on their way into Redis while the next step's records are created. */
const STEPS_IN_FLIGHT = 2;

export interface AdmitOptions {
  /** Clock of the caller (epoch ms): created_at of new runs. */
  now: number;
  /** BullMQ priority of the jobs; none for scheduled runs. */
  priority?: number;
  /** Whether to enqueue a run, given what creating its record answered. */
  enqueueIf: (answer: CreateAnswer) => boolean;
}

/**
 * Creates the run records that are absent, and enqueues the runs that
 * `enqueueIf` accepts, in the order given (job id = run id). Each run's record
 * exists before its job. Works in steps of 1,000: the records of the next step
 * are created while Redis still adds the jobs of this one. Returns, per run,
 * what creating its record answered.
 */
export async function admitRuns(
  store: Store,
  queue: RunQueue,
  jobs: readonly RunJob[],
  opts: AdmitOptions,
): Promise<CreateAnswer[]> {
  const answers: CreateAnswer[] = [];
  const queued: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < jobs.length; i += STEP) {
      if (queued.length >= STEPS_IN_FLIGHT) await queued[queued.length - STEPS_IN_FLIGHT];
      const step = jobs.slice(i, i + STEP);
      const created = await store.runs.createMany(
        step.map((j) => ({
          id: j.run_id,
          export_id: j.export_id,
          data_interval_start: j.data_interval_start,
          data_interval_end: j.data_interval_end,
        })),
        opts.now,
      );
      answers.push(...created);
      const enqueuing = queue.enqueue(
        step.filter((_, k) => opts.enqueueIf(created[k]!)),
        { priority: opts.priority },
      );
      enqueuing.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      queued.push(enqueuing);
    }
  } finally {
    // Nothing of this call is left running when it returns or throws.
    await Promise.allSettled(queued);
  }
  await Promise.all(queued);
  return answers;
}
