import type { BatchExport, Run } from '@bx/core';
import { BackfillService } from '@bx/operations';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed, type IntervalPlan } from './seed';
import type { Scenario } from './summary';
import { verifyExport } from './verify';

const FIVE_MINUTES = 300_000;

/** An export catching up from a past `start_at` and another's backfill of the same range, both scheduled. */
export interface SchedulerWork {
  catchUp: BatchExport;
  backfilled: BatchExport;
  backfillId: string;
}

/**
 * A chaos system for scheduler faults: 5-minute intervals with `rows` seeded for two teams
 * (the catch-up's and the backfill's), the schedulers `window` runs ahead of the workers.
 */
export function schedulerBed(
  teams: [catchUp: number, backfill: number],
  rows: number[],
  window: number,
): { sys: ChaosSystem; intervals: IntervalPlan[] } {
  const sys = new ChaosSystem({ SCHEDULER_RUN_WINDOW: String(window) });
  const intervals = plan(Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES, FIVE_MINUTES, rows);
  before(async () => {
    await sys.setup();
    for (const team of teams) await seed(sys.ch, team, intervals, 64);
  });
  after(async () => sys.teardown());
  return { sys, intervals };
}

/** Creates the catch-up export and the backfilled one with its backfill (as the API would, same window). */
export async function schedulerWork(
  sys: ChaosSystem,
  intervals: readonly IntervalPlan[],
  teams: [catchUp: number, backfill: number],
  window: number,
): Promise<SchedulerWork> {
  const { start_at, end_at } = range(intervals);
  const catchUp = await sys.createExport({ team_id: teams[0], interval: 'every 5 minutes', start_at, end_at });
  const backfilled = await sys.createExport({ team_id: teams[1], interval: 'every 5 minutes', end_at });
  // Its first step starts half a window.
  const backfills = new BackfillService(sys.store, sys.queue, sys.logger, undefined, { runWindow: window });
  const created = await backfills.create(backfilled.id, { start_at, end_at });
  if (!('backfill' in created)) throw new Error('backfill not created');
  return { catchUp, backfilled, backfillId: created.backfill.id };
}

/**
 * Waits for both exports' runs, then checks: every row once, one Completed run per interval
 * with its row count, exported in one attempt; the backfill Completed with every run counted.
 */
export async function checkSchedulerWork(
  scenario: Scenario,
  sys: ChaosSystem,
  intervals: readonly IntervalPlan[],
  teams: [catchUp: number, backfill: number],
  work: SchedulerWork,
): Promise<void> {
  const runs = await Promise.all([
    sys.settled(work.catchUp.id, intervals.length, 120_000),
    sys.settled(work.backfilled.id, intervals.length, 120_000),
  ]);
  for (const [team, exportRuns] of [
    [teams[0], runs[0]],
    [teams[1], runs[1]],
  ] as Array<[number, Run[]]>) {
    const spans = intervals.map((p) => p.span);
    scenario.checkExact(await verifyExport({ ...sys, teamId: team, spans, prefix: `team-${team}/` }));
    scenario.check(
      exportRuns.length === intervals.length &&
        exportRuns.every(
          (r, i) =>
            Date.parse(r.data_interval_start) === intervals[i]!.span.start &&
            r.status === 'Completed' &&
            r.records_completed === intervals[i]!.rows,
        ),
      `team ${team}: one Completed run per interval with its row count (${exportRuns.length} runs)`,
    );
    scenario.check(
      exportRuns.every((r) => r.attempts === 1),
      `team ${team}: every run exported once (attempts: ${[...new Set(exportRuns.map((r) => r.attempts))].join(', ')})`,
    );
  }
  const status = await sys.backfills.get(work.backfilled.id, work.backfillId);
  scenario.check(
    status.status === 'Completed' &&
      status.finished_runs === intervals.length &&
      status.total_runs === intervals.length &&
      status.failed_runs === 0 &&
      status.skipped_runs === 0 &&
      status.progress === 1,
    `backfill ${status.status}, ${status.finished_runs}/${status.total_runs} finished, ${status.skipped_runs} skipped, ${status.failed_runs} failed`,
  );
  scenario.check(
    status.records_completed === intervals.reduce((n, p) => n + p.rows, 0),
    `backfill records_completed ${status.records_completed}`,
  );
  scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
  scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
}
