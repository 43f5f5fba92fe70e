import type { Run } from '@bx/core';
import { BackfillService } from '@bx/operations';
import type { ServiceProcess } from '../helpers/processes';
import { sleep } from '../helpers/processes';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const FIVE_MINUTES = 300_000;
const CATCH_UP_TEAM = 21;
const BACKFILL_TEAM = 22;
const KILLS = 6;
const WINDOW = 16;
// 5 hours of 5-minute intervals each: small ones, so runs are quick and the schedulers'
// work (creating runs a window ahead, backfill steps) is what the kills land in.
const ROWS = Array.from({ length: 60 }, (_, i) => (i % 17 === 5 ? 0 : 20 + (i % 7) * 15));

/**
 * The scheduler SIGKILLed again and again while it catches an export up from a
 * `start_at` in the past and steps a backfill of another, both a small window
 * ahead of the workers (SCHEDULER_RUN_WINDOW 16: many ticks and steps, so kills
 * land between creating runs, enqueueing them and moving the cursors).
 */
describe('chaos: scheduler SIGKILL mid-tick and mid-backfill step', function () {
  this.timeout(240_000);
  const sys = new ChaosSystem({ SCHEDULER_RUN_WINDOW: String(WINDOW) });
  const intervals = plan(Math.floor(Date.now() / FIVE_MINUTES) * FIVE_MINUTES, FIVE_MINUTES, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, CATCH_UP_TEAM, intervals, 64);
    await seed(sys.ch, BACKFILL_TEAM, intervals, 64);
  });
  after(async () => sys.teardown());

  it('no interval skipped or run twice; the backfill ends Completed with every run counted', async () => {
    await new Scenario('scheduler SIGKILL mid-tick', sys).run(async (scenario) => {
      await sys.startWorkers(2);
      const { start_at, end_at } = range(intervals);
      const catchUp = await sys.createExport({
        team_id: CATCH_UP_TEAM,
        interval: 'every 5 minutes',
        start_at,
        end_at,
      });
      const backfilled = await sys.createExport({ team_id: BACKFILL_TEAM, interval: 'every 5 minutes', end_at });
      // As the API would with the same SCHEDULER_RUN_WINDOW: its first step starts half a window.
      const backfills = new BackfillService(sys.store, sys.queue, sys.logger, undefined, { runWindow: WINDOW });
      const created = await backfills.create(backfilled.id, { start_at, end_at });
      if (!('backfill' in created)) throw new Error('backfill not created');
      const { backfill } = created;

      let scheduler: ServiceProcess = await sys.startScheduler();
      const progress: string[] = [];
      for (let k = 0; k < KILLS; k++) {
        await sleep(400 + Math.random() * 1200);
        await sys.killScheduler(scheduler);
        const [a, b] = await Promise.all([sys.runs(catchUp.id), sys.runs(backfilled.id)]);
        progress.push(`${a.length}+${b.length}`);
        scheduler = await sys.startScheduler();
      }
      scenario.note(`${KILLS} scheduler SIGKILLs; run records (catch-up + backfill) at each: ${progress.join(', ')}`);

      const lastKill = Date.now();
      const runs = await Promise.all([
        sys.settled(catchUp.id, intervals.length, 120_000),
        sys.settled(backfilled.id, intervals.length, 120_000),
      ]);
      scenario.note(`all runs completed ${((Date.now() - lastKill) / 1000).toFixed(1)} s after the last kill`);
      for (const [team, exportRuns] of [
        [CATCH_UP_TEAM, runs[0]],
        [BACKFILL_TEAM, runs[1]],
      ] as Array<[number, Run[]]>) {
        const verdict = await verifyExport({
          ...sys,
          teamId: team,
          spans: intervals.map((p) => p.span),
          prefix: `team-${team}/`,
        });
        scenario.checkExact(verdict);
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
      const status = await sys.backfills.get(backfilled.id, backfill.id);
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
    });
  });
});
