import { errorMessage, runIdFor, spansFrom, type BatchExport, type Clock, type Logger, type Span } from '@bx/core';
import { BACKFILL_PRIORITY, type RunJob, type RunQueue } from '@bx/queue';
import type { BackfillRecord, CreateAnswer, Store } from '@bx/store';

/** Runs a backfill step creates at most (one script call). */
const STEP_RUNS = 1000;
/** Backfills looked at per pass. */
const PASS_BACKFILLS = 200;

type Decision = 'start' | 'enqueue' | 'rerun' | 'skip' | 'own' | 'wait';

/**
 * Starts backfills' intervals a window ahead of the workers: while an
 * export has fewer than `window` unfinished runs, the next intervals of its
 * backfills get their run records and jobs, oldest first, behind scheduled
 * runs. So a backfill costs a range and a cursor, not a record per interval,
 * and the scheduler's catch-up (also bounded by the window) keeps room. A
 * paused export's backfills wait. Runs in the scheduler role (several
 * schedulers: a step takes the backfill's lock, and its cursor moves by
 * compare-and-set); the API runs the first step of a new backfill itself.
 */
export class BackfillPump {
  private readonly window: number;
  private readonly clock: Clock;

  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly logger: Logger,
    /** `clock`: now in epoch ms, by default Redis time (Store.now). */
    opts: { window?: number; clock?: Clock } = {},
  ) {
    // Backfills fill half the export's window: scheduled catch-up keeps the other half.
    this.window = Math.max(1, Math.floor((opts.window ?? 1000) / 2));
    this.clock = opts.clock ?? (() => store.now());
  }

  /** One step of every active backfill; returns how many runs were started. */
  async pass(): Promise<number> {
    let started = 0;
    for (const id of await this.store.backfills.active(PASS_BACKFILLS)) {
      try {
        started += await this.step(id);
      } catch (err) {
        this.logger.error('backfill step failed', { backfill_id: id, err: errorMessage(err) });
      }
    }
    return started;
  }

  /** Starts the next intervals of one backfill, up to its export's window; returns how many. */
  async step(backfillId: string): Promise<number> {
    const release = await this.store.backfills.lock(backfillId);
    if (!release) return 0;
    try {
      const record = await this.store.backfills.get(backfillId);
      if (!record || record.started_all || record.cancelled) return 0;
      const exp = await this.store.exports.get(record.export_id);
      if (!exp) {
        // Deleted: created as its export was deleted, it may have missed the export's clean-up.
        // Left active it would be looked at on every pass, ahead of newer backfills, for good.
        await this.store.backfills.forget(backfillId, record.export_id);
        this.logger.info('backfill of a deleted export dropped', { backfill_id: backfillId });
        return 0;
      }
      if (exp.paused) return 0;
      const [unfinished] = await this.store.runs.unfinishedCounts([exp.id]);
      const room = Math.min(STEP_RUNS, this.window - (unfinished ?? 0));
      if (room <= 0) return 0;
      return await this.startNext(record, exp, room);
    } finally {
      await release();
    }
  }

  /**
   * Cancels a backfill under its lock: intervals not started count as
   * cancelled. Returns its open runs, for the caller to cancel. A step that
   * ran meanwhile all the same (the lock lapsed while this one stalled) moved
   * the cursor: the cancel is counted again from the new one.
   */
  async cancel(backfillId: string): Promise<string[] | null> {
    for (let tries = 0; ; tries++) {
      const release = await this.store.backfills.lock(backfillId);
      if (!release) {
        if (tries > 600) throw new Error(`backfill ${backfillId} is locked by a step that does not end`);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        const record = await this.store.backfills.get(backfillId);
        if (!record) return null;
        const exp = await this.store.exports.get(record.export_id);
        const neverStarted = exp && !record.started_all ? await this.neverStarted(record, exp) : 0;
        const count = { neverStarted, cursor: record.cursor };
        const open = await this.store.backfills.cancel(backfillId, count, await this.clock());
        if (open !== 'moved') return open;
      } finally {
        await release();
      }
    }
  }

  /**
   * Intervals from the cursor on that the backfill has not started. A step
   * whose cursor's move was lost (Redis lost its last second) started some
   * past the cursor: open ones are cancelled as its runs, finished ones
   * were counted, so neither counts again as never started. Only the first
   * step's worth can be so: a step starts no run past the cursor it read.
   */
  private async neverStarted(record: BackfillRecord, exp: BatchExport): Promise<number> {
    const end = Date.parse(record.end_at);
    const first: string[] = [];
    let count = 0;
    for (const span of spansFrom(record.cursor, exp.interval, exp.timezone)) {
      if (span.start >= end) break;
      if (first.length < STEP_RUNS) first.push(runIdFor(exp.id, span.start));
      count++;
    }
    const started = await this.store.runs.startedBy(record.id, first);
    return count - started.filter(Boolean).length;
  }

  private async startNext(record: BackfillRecord, exp: BatchExport, room: number): Promise<number> {
    const end = Date.parse(record.end_at);
    const spans: Span[] = [];
    for (const span of spansFrom(record.cursor, exp.interval, exp.timezone)) {
      if (span.start >= end || spans.length >= room) break;
      // The export's interval changed since the backfill was planned: its last interval may now
      // end after the range (even in the future); the run stops where the range does.
      spans.push({ start: span.start, end: Math.min(span.end, end) });
    }
    const now = await this.clock();
    const jobs: RunJob[] = spans.map((s) => ({
      run_id: runIdFor(exp.id, s.start),
      export_id: exp.id,
      export_name: exp.name,
      data_interval_start: s.start,
      data_interval_end: s.end,
    }));
    const answers = await this.store.runs.createMany(
      jobs.map((j) => ({
        id: j.run_id,
        export_id: j.export_id,
        data_interval_start: j.data_interval_start,
        data_interval_end: j.data_interval_end,
        backfill_id: record.id,
      })),
      now,
      { evenIfExported: record.force },
    );
    const fresh: RunJob[] = [];
    let skipped = 0;
    let done = 0;
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      const decision = decide(answers[i]!, record.force);
      if (decision === 'skip') skipped++;
      else if (decision === 'start') fresh.push(job);
      else if (decision === 'own') {
        // started by an earlier step of this backfill, in flight or counted already: nothing to do
      } else if (decision === 'wait')
        break; // a run of the old interval at this start runs: next pass
      else if (!(await this.again(job, record, decision))) break; // held by a worker a moment longer: next pass
      done = i + 1;
    }
    await this.queue.enqueue(fresh, { priority: BACKFILL_PRIORITY });
    const next = done === spans.length ? (spans[done - 1]?.end ?? record.cursor) : spans[done]!.start;
    await this.store.backfills.advance(
      record.id,
      { from: record.cursor, to: next, skipped, startedAll: next >= end },
      now,
    );
    return done - skipped;
  }

  /**
   * A run that exists: queued again for this backfill (`rerun`: it had
   * finished), or its job offered again (`enqueue`: this backfill started it
   * in a step that crashed before enqueueing). False when a worker still
   * holds its old job.
   */
  private async again(job: RunJob, record: BackfillRecord, decision: 'enqueue' | 'rerun'): Promise<boolean> {
    if (!(await this.queue.settled(job.run_id, 0))) return false;
    if (decision === 'rerun') {
      const rescheduled = await this.store.runs.reschedule(job.run_id, await this.clock(), {
        id: record.id,
        start: job.data_interval_start,
      });
      if (!rescheduled) return true; // it changed meanwhile (another process runs it): counts nowhere
    }
    await this.queue.requeue(job, { priority: BACKFILL_PRIORITY });
    return true;
  }
}

/** What a backfill does with an interval, given what creating its run answered. */
function decide(answer: CreateAnswer, force: boolean): Decision {
  if (answer === 'created') return 'start';
  // A finished run of another interval at this start (the export's interval changed) became
  // this backfill's: its old job may linger, so it is queued as a rerun is.
  if (answer === 'rewritten') return 'enqueue';
  if (answer.startsWith('other:')) return 'wait';
  if (answer.startsWith('mine:')) return answer === 'mine:Scheduled' ? 'enqueue' : 'own';
  // Counted by this backfill, then run again by another: counted once, run by the other.
  if (answer.startsWith('counted:')) return 'own';
  if (answer === 'Exported') return 'skip'; // with force, the run is created anyway
  if (answer === 'Completed') return force ? 'rerun' : 'skip';
  // Never exported: a failed or cancelled run runs again; one queued or running elsewhere is left be.
  if (answer === 'Failed' || answer === 'Cancelled') return 'rerun';
  return 'skip';
}
