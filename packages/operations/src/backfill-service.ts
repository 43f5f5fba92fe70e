import {
  ConflictError,
  NotFoundError,
  ValidationError,
  instant,
  intervalsBetweenYielding,
  parseInput,
  runIdFor,
  type BatchExport,
  type Clock,
  type Logger,
  type RunStatus,
} from '@bx/core';
import type { RunQueue } from '@bx/queue';
import type { BackfillRecord, Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { BackfillPump } from './backfill-pump';
import { isOwnId } from './ids';

/** Backfills longer than this are refused (a year of 5-minute intervals fits). */
export const MAX_BACKFILL_RUNS = 200_000;
/** Above this many intervals a backfill needs `confirm: true`. */
export const CONFIRM_ABOVE_RUNS = 1_000;

const backfillSchema = z.strictObject({
  start_at: instant,
  end_at: instant,
  /** Export intervals again even if they were exported before. */
  force: z.boolean().default(false),
  /** Only count: how many intervals, how many already exported; creates nothing. */
  dry_run: z.boolean().default(false),
  /** Needed above CONFIRM_ABOVE_RUNS intervals. */
  confirm: z.boolean().default(false),
});

export interface Backfill {
  id: string;
  export_id: string;
  status: 'Running' | 'Completed' | 'Failed' | 'Cancelled';
  start_at: string;
  end_at: string;
  force: boolean;
  total_runs: number;
  /** Intervals it brought to a final status (Completed, Failed or Cancelled), never-started ones at cancel included. */
  finished_runs: number;
  failed_runs: number;
  cancelled_runs: number;
  /** Intervals it did not export: already exported, or running elsewhere (without `force`). */
  skipped_runs: number;
  /** Rows of the runs it completed (its own attempts only). */
  records_completed: number;
  /** (finished + skipped) / total. */
  progress: number;
  created_at: string;
  finished_at: string | null;
}

/** What a dry run answers. */
export interface BackfillPlan {
  /** Start of the first interval: the range typed, aligned down to the export's intervals. */
  start_at: string;
  /** End of the last interval that has ended: a backfill covers whole intervals. */
  end_at: string;
  total_runs: number;
  /** Intervals the backfill would export. */
  to_export: number;
  /** Intervals exported before (skipped without `force`). */
  already_exported: number;
  /** Intervals queued or running now (skipped without `force`, and with it). */
  in_progress: number;
}

/** Intervals a dry run reads per step. */
const PLAN_SLICE = 5000;

const IN_PROGRESS: ReadonlySet<RunStatus> = new Set(['Scheduled', 'Running', 'FailedRetryable']);

/**
 * Backfills: a range of an export's intervals exported behind its scheduled
 * runs. A backfill is a range and a cursor; its runs are created a window
 * ahead of the workers (BackfillPump), so a backfill of 200,000 intervals
 * costs a few thousand run records at a time. Idempotent with the schedule
 * and with other backfills: an interval exported before, or in progress, is
 * exported again only with `force` (in progress: never).
 */
export class BackfillService {
  readonly pump: BackfillPump;

  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
    /** Now, in epoch ms; by default Redis time (Store.now), the scheduler's clock. */
    private readonly clock: Clock = () => store.now(),
    opts: { runWindow?: number } = {},
  ) {
    this.pump = new BackfillPump(store, queue, logger, { window: opts.runWindow, clock });
  }

  /** Creates a backfill (201), or answers a dry run's plan (`dry_run: true`). */
  async create(exportId: string, body: unknown): Promise<{ backfill: Backfill } | { plan: BackfillPlan }> {
    const input = parseInput(backfillSchema, body);
    const exp = await this.export(exportId);
    const start = Date.parse(input.start_at);
    const end = Date.parse(input.end_at);
    const now = await this.clock();
    const invalid = (field: string, message: string) =>
      new ValidationError(`Invalid body: ${field}: ${message}`, [{ field, message }]);
    if (end <= start) throw invalid('end_at', 'end_at must be after start_at');
    if (end > now) throw invalid('end_at', 'end_at is in the future; the scheduler exports intervals as they end');
    // Only intervals that have ended: a backfill never exports a partial interval.
    const spans = (
      await intervalsBetweenYielding(start, end, exp.interval, exp.timezone, MAX_BACKFILL_RUNS + 1)
    ).filter((s) => s.end <= now);
    if (spans.length > MAX_BACKFILL_RUNS)
      throw invalid('start_at', `range holds more than ${MAX_BACKFILL_RUNS} intervals`);
    if (spans.length === 0) throw invalid('end_at', `no ${exp.interval} interval in the range has ended yet`);

    if (input.dry_run) return { plan: await this.plan(exp, spans, input.force) };
    if (spans.length > CONFIRM_ABOVE_RUNS && !input.confirm) {
      throw new ValidationError(
        `Invalid body: confirm: the range holds ${spans.length} intervals; more than ${CONFIRM_ABOVE_RUNS} need "confirm": true (try "dry_run": true first)`,
        [{ field: 'confirm', message: `${spans.length} intervals need confirm: true` }],
        'confirmation_required',
      );
    }
    const id = randomUUID();
    await this.store.backfills.create({
      id,
      export_id: exp.id,
      start_at: new Date(spans[0]!.start).toISOString(),
      end_at: new Date(spans[spans.length - 1]!.end).toISOString(),
      force: input.force,
      total_runs: spans.length,
      created_at: new Date(now).toISOString(),
      cursor: spans[0]!.start,
    });
    this.logger.info('backfill created', {
      export_id: exp.id,
      backfill_id: id,
      total_runs: spans.length,
      force: input.force,
    });
    // The first window now, so the runs start without waiting for a scheduler's tick.
    await this.pump
      .step(id)
      .catch((err: unknown) =>
        this.logger.warn('backfill first step failed; a scheduler retries it', { backfill_id: id, err: String(err) }),
      );
    return { backfill: await this.get(exp.id, id) };
  }

  async get(exportId: string, backfillId: string): Promise<Backfill> {
    const record = isOwnId(backfillId) ? await this.store.backfills.get(backfillId) : null;
    if (!record || record.export_id !== exportId)
      throw new NotFoundError(`backfill ${backfillId} of export ${exportId} not found`);
    return backfillView(record);
  }

  /** An export's backfills, newest first. */
  async list(exportId: string, limit = 20): Promise<Backfill[]> {
    await this.export(exportId);
    const ids = await this.store.backfills.ofExport(exportId, limit);
    const records = await Promise.all(ids.map((id) => this.store.backfills.get(id)));
    return records.filter((r): r is BackfillRecord => r !== null).map(backfillView);
  }

  /**
   * Cancels a backfill: intervals it has not started never start, its runs
   * not yet finished become Cancelled, and a running one stops.
   */
  async cancel(exportId: string, backfillId: string): Promise<Backfill> {
    const before = await this.get(exportId, backfillId);
    // Cancelled with runs still open: an earlier cancel's process died (or lost Redis) before it
    // had cancelled them all; this one finishes the job (cancel-backfill.lua answers them again).
    if (before.finished_at) {
      if (before.status === 'Cancelled') return before;
      throw new ConflictError(`backfill ${backfillId} is ${before.status}; nothing to cancel`);
    }
    const open = await this.pump.cancel(backfillId);
    for (const runId of open ?? []) {
      if (await this.store.runs.cancel(runId)) {
        await this.queue.remove(runId).catch(() => false);
        await this.queue.cancelRunning(runId);
      }
    }
    this.logger.info('backfill cancelled', { export_id: exportId, backfill_id: backfillId, open_runs: open?.length });
    return this.get(exportId, backfillId);
  }

  private async export(exportId: string): Promise<BatchExport> {
    const exp = isOwnId(exportId) ? await this.store.exports.get(exportId) : null;
    if (!exp) throw new NotFoundError(`export ${exportId} not found`);
    return exp;
  }

  /**
   * How many of the intervals a backfill would export; reads one record per
   * interval, creates nothing. An interval counts as exported only when a
   * run covered exactly it: a record of its start with another end (the
   * export's interval changed since) is exported again, once it has finished.
   */
  private async plan(
    exp: BatchExport,
    spans: ReadonlyArray<{ start: number; end: number }>,
    force: boolean,
  ): Promise<BackfillPlan> {
    let exported = 0;
    let inProgress = 0;
    // A slice at a time, each behind a Redis round trip: 200,000 ids at once held the event loop for a second.
    for (let from = 0; from < spans.length; from += PLAN_SLICE) {
      const slice = spans.slice(from, from + PLAN_SLICE);
      const records = await this.store.runs.coverage(slice.map((s) => runIdFor(exp.id, s.start)));
      const known = await this.store.runs.knownExported(exp.id, slice);
      slice.forEach((span, i) => {
        const record = records[i];
        const same = record && record.end === span.end ? record.status : null;
        if (same === 'Completed' || (!record && known[i])) exported++;
        else if (same && IN_PROGRESS.has(same)) inProgress++;
      });
    }
    return {
      start_at: new Date(spans[0]!.start).toISOString(),
      end_at: new Date(spans[spans.length - 1]!.end).toISOString(),
      total_runs: spans.length,
      to_export: spans.length - inProgress - (force ? 0 : exported),
      already_exported: exported,
      in_progress: inProgress,
    };
  }
}

/** A backfill as the API shows it; its status and progress from its counters. */
export function backfillView(r: BackfillRecord): Backfill {
  const done = r.finished_ms !== null;
  return {
    id: r.id,
    export_id: r.export_id,
    status: r.cancelled ? 'Cancelled' : !done ? 'Running' : r.failed_runs > 0 ? 'Failed' : 'Completed',
    start_at: r.start_at,
    end_at: r.end_at,
    force: r.force,
    total_runs: r.total_runs,
    finished_runs: r.finished_runs,
    failed_runs: r.failed_runs,
    cancelled_runs: r.cancelled_runs,
    skipped_runs: r.skipped_runs,
    records_completed: r.records_completed,
    progress: r.total_runs === 0 ? 1 : Math.min(1, (r.finished_runs + r.skipped_runs) / r.total_runs),
    created_at: r.created_at,
    finished_at: done ? new Date(Math.max(r.finished_ms!, Date.parse(r.created_at))).toISOString() : null,
  };
}
