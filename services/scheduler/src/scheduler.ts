import { errorMessage, runIdFor, spansFrom, type BatchExport, type Logger, type Span } from '@bx/core';
import type { RunJob, RunQueue } from '@bx/queue';
import { admitRuns } from '@bx/operations';
import type { CreateAnswer, Store } from '@bx/store';

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
  /**
   * Unfinished runs (Scheduled, Running, FailedRetryable) an export may have
   * at once: a catch-up creates runs only this far ahead of the workers, so
   * an export whose start_at is years back costs a window of run records,
   * not one per interval. Default 1000.
   */
  runWindow?: number;
  /** How long an export whose window is full waits before the scheduler looks again, in ms. Default 5000. */
  windowRetryMs?: number;
}

interface Move {
  id: string;
  from: number;
  to: number;
  dueAt: number | null;
}

/** Runs to admit and cursors to move for one batch of due exports. */
interface Batch {
  jobs: RunJob[];
  moves: Move[];
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
  private readonly runWindow: number;
  private readonly windowRetryMs: number;

  constructor(private readonly opts: SchedulerOptions) {
    this.batchSize = opts.batchSize ?? 1000;
    this.maxIntervals = opts.maxIntervalsPerTick ?? 500;
    this.runWindow = opts.runWindow ?? 1000;
    this.windowRetryMs = opts.windowRetryMs ?? 5000;
  }

  /**
   * One pass over every due export. `now` defaults to Redis server time.
   * Batches go through two stages: reading exports and cursors and working
   * out their runs (mostly this process), then creating, enqueueing and
   * advancing (mostly Redis). The next batch is read while Redis admits the
   * one before, and batches are admitted one at a time, in order.
   */
  async tick(now?: number): Promise<TickResult> {
    const at = now ?? (await this.opts.store.now());
    const horizon = at - this.opts.settleMs;
    const total: TickResult = { exports: 0, enqueued: 0 };
    const seen = new Set<string>();
    // Seen exports that may still be in the due range: those read and not yet
    // advanced, and those left due once advanced (lost compare-and-set,
    // more intervals than one tick takes). A page this much larger than a
    // batch holds a batch of unseen exports, if so many are due.
    let mayStillBeDue = 0;
    let admitting: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        const limit = this.batchSize + mayStillBeDue;
        const page = await this.opts.store.schedule.due(horizon, limit);
        const ids = page.filter((id) => !seen.has(id)).slice(0, this.batchSize);
        if (ids.length === 0) {
          // A full page of seen exports: more of them are due than counted
          // (another process scheduled one again); read past all of them.
          if (page.length < limit || mayStillBeDue >= seen.size) break;
          mayStillBeDue = seen.size;
          continue;
        }
        ids.forEach((id) => seen.add(id));
        total.exports += ids.length;
        mayStillBeDue += ids.length;
        const batch = await this.prepareBatch(ids, horizon, at);
        mayStillBeDue -= ids.length - batch.moves.length; // unscheduled ones left the range
        const previous = admitting;
        admitting = previous.then(async () => {
          const admitted = await this.admitBatch(batch, horizon, at);
          total.enqueued += admitted.enqueued;
          mayStillBeDue -= batch.moves.length - admitted.stillDue;
        });
        admitting.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        await previous;
      }
      await admitting;
    } finally {
      // Nothing of this tick is left running when it returns or throws.
      await admitting.catch(() => undefined);
    }
    return total;
  }

  start(tickMs: number): void {
    const loop = () => {
      const began = Date.now();
      this.running = this.tick()
        .then((result) => {
          if (result.enqueued > 0) this.opts.logger.info('scheduler tick', { ...result, ms: Date.now() - began });
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

  /** Reads a batch of due exports and works out their runs; unschedules paused and deleted ones. */
  private async prepareBatch(ids: string[], horizon: number, at: number): Promise<Batch> {
    const { store } = this.opts;
    const [exports, cursors, unfinished] = await Promise.all([
      store.exports.getMany(ids),
      store.schedule.cursors(ids),
      store.runs.unfinishedCounts(ids),
    ]);
    const jobs: RunJob[] = [];
    const moves: Move[] = [];
    for (let i = 0; i < ids.length; i++) {
      const exp = exports[i];
      const cursor = cursors[i];
      if (!exp || exp.paused || cursor === null || cursor === undefined) {
        await store.schedule.unschedule(ids[i]!);
        continue;
      }
      const room = Math.min(this.maxIntervals, this.runWindow - (unfinished[i] ?? 0));
      const { spans, next, dueAt: due } = this.dueSpans(exp, cursor, horizon, Math.max(0, room));
      // Window full with intervals still due: look again shortly, not at every tick.
      const dueAt = due !== null && due <= horizon && spans.length < this.maxIntervals ? at + this.windowRetryMs : due;
      for (const span of spans) {
        jobs.push({
          run_id: runIdFor(exp.id, span.start),
          export_id: exp.id,
          export_name: exp.name,
          data_interval_start: span.start,
          data_interval_end: span.end,
        });
      }
      moves.push({ id: exp.id, from: cursor, to: next, dueAt });
    }
    // Oldest first.
    jobs.sort((a, b) => a.data_interval_start - b.data_interval_start);
    return { jobs, moves };
  }

  /**
   * Creates and enqueues a batch's runs, then moves its cursors. `at` is the
   * scheduler's clock (Redis time), also for the runs' created_at. Answers
   * the runs it created and how many of the batch's exports may still be due.
   */
  private async admitBatch(batch: Batch, horizon: number, at: number): Promise<{ enqueued: number; stillDue: number }> {
    const { store, queue } = this.opts;
    // A run still Scheduled may have lost its job to a crash between creating
    // it and enqueueing it: offering it again is harmless, the job id dedupes it.
    const statuses = await admitRuns(store, queue, batch.jobs, {
      now: at,
      enqueueIf: (answer) => answer === 'created' || answer === 'Scheduled',
    });
    const requeued = await this.afterIntervalChange(batch, statuses, at);
    const moved = await store.schedule.advance(batch.moves);
    const stillDue = batch.moves.filter((m, i) => !moved[i] || (m.dueAt !== null && m.dueAt <= horizon)).length;
    return { enqueued: statuses.filter((s) => s === 'created').length + requeued, stillDue };
  }

  /**
   * Runs whose start held a record of the export's earlier interval: a
   * finished one was rewritten for this interval and is queued again (its
   * old job may linger in the queue under the same id); behind one still
   * unfinished, the export's cursor stays until it has finished, then the
   * next tick rewrites it. Nothing is skipped, nothing exported twice.
   */
  private async afterIntervalChange(batch: Batch, answers: readonly CreateAnswer[], at: number): Promise<number> {
    const held = new Map<string, number>();
    const hold = (job: RunJob) =>
      held.set(job.export_id, Math.min(held.get(job.export_id) ?? Infinity, job.data_interval_start));
    let requeued = 0;
    for (const [i, answer] of answers.entries()) {
      const job = batch.jobs[i]!;
      if (answer.startsWith('other:')) hold(job);
      else if (answer === 'rewritten') {
        // A worker has not let go of the old run's job (settled waits for that): look again shortly.
        if (!(await this.opts.queue.settled(job.run_id))) hold(job);
        else {
          await this.opts.queue.requeue(job);
          requeued++;
        }
      }
    }
    for (const move of batch.moves) {
      const start = held.get(move.id);
      if (start === undefined) continue;
      move.to = start;
      move.dueAt = at + this.windowRetryMs;
    }
    return requeued;
  }

  /** Up to `limit` intervals from `cursor` that ended by `horizon` and start before `end_at`. */
  private dueSpans(
    exp: BatchExport,
    cursor: number,
    horizon: number,
    limit: number,
  ): { spans: Span[]; next: number; dueAt: number | null } {
    const endAt = exp.end_at ? Date.parse(exp.end_at) : Number.POSITIVE_INFINITY;
    const spans: Span[] = [];
    for (const span of spansFrom(cursor, exp.interval, exp.timezone)) {
      if (span.end > horizon || span.start >= endAt || spans.length >= limit)
        return { spans, next: span.start, dueAt: span.start >= endAt ? null : span.end };
      spans.push(span);
    }
    throw new Error('unreachable: spansFrom never ends');
  }
}
