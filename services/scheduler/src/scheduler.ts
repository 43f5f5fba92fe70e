import { errorMessage, runIdFor, spanFrom, type BatchExport, type Logger, type Span } from '@bx/core';
import type { RunJobData, RunQueue } from '@bx/queue';
import { admitRuns } from '@bx/operations';
import type { Store } from '@bx/store';

export interface SchedulerOptions {
  store: Store;
  queue: RunQueue;
  logger: Logger;
  /** Wait after an interval ends before exporting it, in ms. */
  settleMs: number;
  /** Exports read per round trip. */
  batchSize?: number;
  /** Intervals one export may enqueue per tick (catch-up proceeds over several ticks). */
  maxIntervalsPerTick?: number;
}

export interface TickResult {
  exports: number;
  enqueued: number;
}

/**
 * Finds intervals that have ended and enqueues one run for each. Safe to run
 * in several processes at once: a run record is created only if absent, the
 * job id is the run id, and an export's cursor moves by compare-and-set.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly batchSize: number;
  private readonly maxIntervals: number;

  constructor(private readonly opts: SchedulerOptions) {
    this.batchSize = opts.batchSize ?? 1000;
    this.maxIntervals = opts.maxIntervalsPerTick ?? 500;
  }

  /** One pass over every due export. `now` defaults to Redis server time. */
  async tick(now?: number): Promise<TickResult> {
    const at = now ?? (await this.opts.store.now());
    const horizon = at - this.opts.settleMs;
    const total: TickResult = { exports: 0, enqueued: 0 };
    const seen = new Set<string>();
    for (;;) {
      const ids = (await this.opts.store.schedule.due(horizon, this.batchSize + seen.size)).filter(
        (id) => !seen.has(id),
      );
      if (ids.length === 0) return total;
      ids.forEach((id) => seen.add(id));
      total.exports += ids.length;
      total.enqueued += await this.scheduleBatch(ids, horizon, at);
    }
  }

  start(tickMs: number): void {
    const loop = () => {
      this.running = this.tick()
        .then((result) => {
          if (result.enqueued > 0) this.opts.logger.info('scheduler tick', { ...result });
        })
        .catch((err) => this.opts.logger.error('scheduler tick failed', { err: errorMessage(err) }))
        .finally(() => {
          this.running = null;
          if (this.timer) this.timer = setTimeout(loop, tickMs);
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops ticking and waits for the tick in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** `at` is the scheduler's clock (Redis time), also for the runs' created_at. */
  private async scheduleBatch(ids: string[], horizon: number, at: number): Promise<number> {
    const { store, queue } = this.opts;
    const [exports, cursors] = await Promise.all([store.exports.getMany(ids), store.schedule.cursors(ids)]);
    const jobs: RunJobData[] = [];
    const moves: Array<{ id: string; from: number; to: number; dueAt: number | null }> = [];
    for (let i = 0; i < ids.length; i++) {
      const exp = exports[i];
      const cursor = cursors[i];
      if (!exp || exp.paused || cursor === null || cursor === undefined) {
        await store.schedule.unschedule(ids[i]!);
        continue;
      }
      const { spans, next, dueAt } = this.dueSpans(exp, cursor, horizon);
      for (const span of spans) {
        jobs.push({
          run_id: runIdFor(exp.id, span.start),
          export_id: exp.id,
          data_interval_start: span.start,
          data_interval_end: span.end,
        });
      }
      moves.push({ id: exp.id, from: cursor, to: next, dueAt });
    }
    // Oldest first. A run still Scheduled may have lost its job to a crash
    // between creating it and enqueueing it: offering it again is harmless,
    // the job id dedupes it.
    jobs.sort((a, b) => a.data_interval_start - b.data_interval_start);
    const statuses = await admitRuns(store, queue, jobs, {
      now: at,
      enqueueIf: (status) => status === 'created' || status === 'Scheduled',
    });
    await store.schedule.advance(moves);
    return statuses.filter((s) => s === 'created').length;
  }

  /** Intervals from `cursor` that ended by `horizon` and start before `end_at`. */
  private dueSpans(
    exp: BatchExport,
    cursor: number,
    horizon: number,
  ): { spans: Span[]; next: number; dueAt: number | null } {
    const endAt = exp.end_at ? Date.parse(exp.end_at) : Number.POSITIVE_INFINITY;
    const spans: Span[] = [];
    let span = spanFrom(cursor, exp.interval, exp.timezone);
    while (span.end <= horizon && span.start < endAt && spans.length < this.maxIntervals) {
      spans.push(span);
      span = spanFrom(span.end, exp.interval, exp.timezone);
    }
    return { spans, next: span.start, dueAt: span.start >= endAt ? null : span.end };
  }
}
