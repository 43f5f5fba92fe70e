import { errorMessage, type Logger, type Run } from '@bx/core';
import { BACKFILL_PRIORITY, type RunQueue } from '@bx/queue';
import type { SettleSeen, Store } from '@bx/store';
import type { ExportService } from './export-service';

/** What one pass repaired. */
export interface StrandedPass {
  /** Exports put back on the schedule. */
  exports: number;
  /** Runs queued again. */
  runs: number;
  /** Backfills that counted runs a torn write left open for them, or finished. */
  backfills: number;
}

/**
 * Run statuses that need a job: waiting for one to run them, or Running (a
 * worker holds the job; a run Running with no live job lost it with the data
 * of a Redis that restarted, and its next attempt counts as after a crash).
 */
const OPEN: ReadonlySet<Run['status']> = new Set(['Scheduled', 'FailedRetryable', 'Running']);

/**
 * Repairs what a process killed between two of its writes leaves behind
 * (SIGKILL of the API mid-unpause or mid-retry, Redis gone between two
 * calls): an export neither paused nor on the schedule, which would never
 * run again, and unfinished runs of an export not paused with no job to run
 * them, which would wait forever (and a retry answers 409 for them). Runs in
 * the scheduler role. Something found so is repaired only when the next pass
 * finds it so again: a change in progress (a run created, its job on its
 * way; an unpause between its two writes) is never raced. Safe with several
 * schedulers: scheduling is a compare-and-set against the export as read, a
 * job id is its run id. And what a torn write (Redis replaying half a
 * script) leaves: final runs still indexed as unfinished, retracked in one
 * pass, and backfills still waiting for such runs, settled in that pass or
 * the next (BackfillRepository.settleWaiting picks them), so that reading a
 * backfill never writes. The first pass of a store walks every export's
 * backfills once for those an earlier version left out of the settling set.
 */
export class StrandedRepair {
  private suspectExports = new Set<string>();
  private suspectRuns = new Set<string>();
  /** The waiting backfills as the last pass saw them. */
  private readonly waiting = new Map<string, SettleSeen>();
  /** The walk over every export's backfills is done (by this or another scheduler). */
  private enrolled = false;

  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly exports: ExportService,
    private readonly logger: Logger,
  ) {}

  async pass(): Promise<StrandedPass> {
    const repaired: StrandedPass = { exports: 0, runs: 0, backfills: 0 };
    const now = await this.store.now();
    let failure: unknown = null;
    try {
      await this.exportsPass(repaired, now);
    } catch (err) {
      failure = err;
    }
    // After the runs: a torn run retracked above is counted by its backfill in the same pass. Also
    // when the exports' part failed part-way: settling needs nothing from it (its error is thrown after).
    try {
      repaired.backfills = await this.store.backfills.settleWaiting(now, this.waiting, (id, err) =>
        this.logger.error('backfill not settled', { backfill_id: id, err: errorMessage(err) }),
      );
    } catch (err) {
      this.logger.error('waiting backfills not settled', { err: errorMessage(err) });
    }
    if (repaired.exports > 0 || repaired.runs > 0 || repaired.backfills > 0)
      this.logger.info('stranded exports and runs repaired', { ...repaired });
    if (failure) throw failure;
    return repaired;
  }

  /** The exports' part of a pass: their schedule and runs, and the one walk of their backfills. */
  private async exportsPass(repaired: StrandedPass, now: number): Promise<void> {
    const found = { exports: new Set<string>(), runs: new Set<string>() };
    let enroll = !this.enrolled && !(await this.store.backfills.enrolled());
    let enrolled = 0;
    // A page of exports costs a few round trips, whatever it holds.
    for await (const page of this.store.exports.ids(1000)) {
      const [states, unfinished] = await Promise.all([
        this.store.schedule.onSchedule(page),
        this.store.runs.unfinishedCounts(page),
      ]);
      const withRuns: string[] = [];
      for (const [i, id] of page.entries()) {
        const state = states[i]!;
        if (state.paused) continue; // a paused export's runs wait without jobs on purpose
        if ((unfinished[i] ?? 0) > 0) withRuns.push(id);
        if (state.scheduled) continue;
        if (!this.suspectExports.has(id)) found.exports.add(id);
        else if (await this.exports.scheduleStranded(id)) {
          repaired.exports++;
          this.logger.warn('export was neither paused nor scheduled; scheduled again', { export_id: id });
        } else found.exports.add(id); // ended (past end_at), or changed meanwhile: looked at again
      }
      repaired.runs += await this.runsOf(withRuns, found.runs);
      // Apart from the repair of this page: a walk that fails is done again next pass, the repair goes on.
      if (enroll)
        try {
          enrolled += await this.store.backfills.enrollWaiting(page, now);
        } catch (err) {
          enroll = false;
          this.logger.error('backfills of an earlier version not enrolled; tried again next pass', {
            err: errorMessage(err),
          });
        }
    }
    this.suspectExports = found.exports;
    this.suspectRuns = found.runs;
    if (enroll) {
      await this.store.backfills.markEnrolled(now);
      this.logger.info('backfills of an earlier version enrolled for settling', { backfills: enrolled });
      this.enrolled = true;
    } else if (!this.enrolled) this.enrolled = await this.store.backfills.enrolled();
  }

  /** Queues the exports' unfinished runs found without a live job twice in a row; adds the ones found now to `found`. */
  private async runsOf(exportIds: readonly string[], found: Set<string>): Promise<number> {
    const ids = (await this.store.runs.unfinishedMany(exportIds)).flat();
    const records = (await this.store.runs.getMany(ids)).filter((run): run is Run => run !== null);
    // Final yet indexed unfinished: only a torn write (Redis replaying half a script) leaves one so.
    const torn = records.filter((run) => !OPEN.has(run.status)).map((run) => run.id);
    if (torn.length && (await this.store.runs.retrack(torn)) > 0)
      this.logger.warn('final runs were indexed as unfinished; index repaired', { runs: torn.length });
    const runs = records.filter((run) => OPEN.has(run.status));
    const live = await this.queue.hasLiveJob(runs.map((r) => r.id));
    let queued = 0;
    for (const [i, run] of runs.entries()) {
      if (live[i]) continue;
      if (!this.suspectRuns.has(run.id)) {
        found.add(run.id);
        continue;
      }
      try {
        await this.queue.requeue(
          {
            run_id: run.id,
            export_id: run.export_id,
            data_interval_start: Date.parse(run.data_interval_start),
            data_interval_end: Date.parse(run.data_interval_end),
          },
          { priority: run.backfill_id ? BACKFILL_PRIORITY : undefined },
        );
        queued++;
        this.logger.warn('run was waiting without a job; queued again', {
          export_id: run.export_id,
          run_id: run.id,
          status: run.status,
        });
      } catch (err) {
        // A worker took a job of it meanwhile (RunActive): it runs.
        this.logger.info('stranded run not queued again', { run_id: run.id, err: errorMessage(err) });
      }
    }
    return queued;
  }
}
