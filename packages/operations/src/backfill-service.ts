import {
  NotFoundError,
  ValidationError,
  instant,
  intervalsBetween,
  parseInput,
  runIdFor,
  type RunStatus,
} from '@bx/core';
import { BACKFILL_PRIORITY, type RunJobData, type RunQueue } from '@bx/queue';
import type { BackfillRecord, RunSummary, Store } from '@bx/store';
import { admitRuns } from './run-admission';
import type { Logger } from '@bx/core';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Backfills longer than this are refused (a year of 5-minute intervals fits). */
export const MAX_BACKFILL_RUNS = 200_000;

const backfillSchema = z.strictObject({
  start_at: instant,
  end_at: instant,
  /** Export intervals again even if they were exported before. */
  force: z.boolean().default(false),
});

export interface Backfill {
  id: string;
  export_id: string;
  status: 'Running' | 'Completed' | 'Failed' | 'Cancelled';
  start_at: string;
  end_at: string;
  force: boolean;
  total_runs: number;
  finished_runs: number;
  failed_runs: number;
  records_completed: number;
  progress: number;
  created_at: string;
  finished_at: string | null;
}

/** What creating a backfill did, beyond the backfill itself. */
export interface BackfillCreated {
  backfill: Backfill;
  enqueued: number;
  /** Intervals already exported or in flight, not exported again. */
  skipped: number;
}

const FINISHED: ReadonlySet<RunStatus> = new Set(['Completed', 'Failed', 'Cancelled']);

/**
 * One run per interval of the export's calendar in a range, queued behind
 * scheduled runs. Idempotent with the schedule and with other backfills: the
 * run of an interval exists once, and is exported again only with `force`.
 */
export class BackfillService {
  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  async create(exportId: string, body: unknown): Promise<BackfillCreated> {
    const input = parseInput(backfillSchema, body);
    const exp = await this.store.exports.get(exportId);
    if (!exp) throw new NotFoundError(`export ${exportId} not found`);
    const start = Date.parse(input.start_at);
    const end = Date.parse(input.end_at);
    const now = this.clock();
    const invalid = (field: string, message: string) =>
      new ValidationError(`Invalid body: ${field}: ${message}`, [{ field, message }]);
    if (end <= start) throw invalid('end_at', 'end_at must be after start_at');
    if (end > now) throw invalid('end_at', 'end_at is in the future; the scheduler exports intervals as they end');
    // Only intervals that have ended: a backfill never exports a partial interval.
    const spans = intervalsBetween(start, end, exp.interval, exp.timezone, MAX_BACKFILL_RUNS + 1).filter(
      (s) => s.end <= now,
    );
    if (spans.length > MAX_BACKFILL_RUNS)
      throw invalid('start_at', `range holds more than ${MAX_BACKFILL_RUNS} intervals`);
    if (spans.length === 0) throw invalid('end_at', `no ${exp.interval} interval in the range has ended yet`);

    const id = randomUUID();
    const jobs: RunJobData[] = spans.map((s) => ({
      run_id: runIdFor(exp.id, s.start),
      export_id: exp.id,
      data_interval_start: s.start,
      data_interval_end: s.end,
    }));
    const statuses = await admitRuns(this.store, this.queue, jobs, {
      now,
      backfillId: id,
      priority: BACKFILL_PRIORITY,
      enqueueIf: (status) => status === 'created',
    });
    const record: BackfillRecord = {
      id,
      export_id: exp.id,
      start_at: new Date(spans[0]!.start).toISOString(),
      end_at: new Date(spans[spans.length - 1]!.end).toISOString(),
      force: input.force,
      total_runs: jobs.length,
      created_at: new Date(now).toISOString(),
    };
    await this.store.backfills.create(
      record,
      jobs.map((j) => j.run_id),
    );
    const fresh = jobs.filter((_, i) => statuses[i] === 'created');
    const again = input.force
      ? jobs.filter((_, i) => statuses[i] !== 'created' && FINISHED.has(statuses[i] as RunStatus))
      : [];
    let requeued = 0;
    for (const job of again) {
      // A run that finished a moment ago may still be held by its worker: wait that out, or leave the run be.
      if (!(await this.queue.settled(job.run_id))) {
        this.logger.warn('forced backfill leaves a run a worker still holds', {
          export_id: exp.id,
          run_id: job.run_id,
        });
        continue;
      }
      await this.store.runs.reschedule(job.run_id, id);
      await this.queue.requeue(job, { priority: BACKFILL_PRIORITY });
      requeued++;
    }
    const enqueued = fresh.length + requeued;
    this.logger.info('backfill created', {
      export_id: exp.id,
      backfill_id: id,
      total_runs: jobs.length,
      enqueued,
      force: input.force,
    });
    // Runs it just created are Scheduled with no rows: only the others are read.
    const older = jobs.filter((_, i) => statuses[i] !== 'created').map((j) => j.run_id);
    const summaries = await this.store.runs.summaries(older);
    const runs = [...summaries, ...fresh.map(() => ({ status: 'Scheduled' as const, records: 0, finished_at: null }))];
    return { backfill: progressOf(record, runs), enqueued, skipped: jobs.length - enqueued };
  }

  async get(exportId: string, backfillId: string): Promise<Backfill> {
    const record = await this.store.backfills.get(backfillId);
    if (!record || record.export_id !== exportId)
      throw new NotFoundError(`backfill ${backfillId} of export ${exportId} not found`);
    return progressOf(record, await this.store.runs.summaries(await this.store.backfills.runIds(backfillId)));
  }
}

/** A backfill's progress from the status of each of its runs. */
function progressOf(record: BackfillRecord, runs: readonly RunSummary[]): Backfill {
  let finished = 0;
  let failed = 0;
  let cancelled = 0;
  let records = 0;
  let finishedAt: string | null = null;
  for (const run of runs) {
    records += run.records;
    if (run.status && FINISHED.has(run.status)) {
      finished++;
      if (run.status === 'Failed') failed++;
      if (run.status === 'Cancelled') cancelled++;
      if (run.finished_at && (!finishedAt || run.finished_at > finishedAt)) finishedAt = run.finished_at;
    }
  }
  const done = finished === record.total_runs;
  return {
    id: record.id,
    export_id: record.export_id,
    status: !done ? 'Running' : failed > 0 ? 'Failed' : cancelled > 0 ? 'Cancelled' : 'Completed',
    start_at: record.start_at,
    end_at: record.end_at,
    force: record.force,
    total_runs: record.total_runs,
    finished_runs: finished,
    failed_runs: failed,
    records_completed: records,
    progress: record.total_runs === 0 ? 1 : finished / record.total_runs,
    created_at: record.created_at,
    finished_at: done ? finishedAt : null,
  };
}
