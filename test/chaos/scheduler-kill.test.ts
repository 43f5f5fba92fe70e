import type { ServiceProcess } from '../helpers/processes';
import { sleep } from '../helpers/processes';
import { checkSchedulerWork, schedulerBed, schedulerWork } from './scheduler-bed';
import { Scenario } from './summary';

const TEAMS: [number, number] = [21, 22];
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
  const { sys, intervals } = schedulerBed(TEAMS, ROWS, WINDOW);

  it('no interval skipped or run twice; the backfill ends Completed with every run counted', async () => {
    await new Scenario('scheduler SIGKILL mid-tick', sys).run(async (scenario) => {
      await sys.startWorkers(2);
      const work = await schedulerWork(sys, intervals, TEAMS, WINDOW);

      let scheduler: ServiceProcess = await sys.startScheduler();
      const progress: string[] = [];
      for (let k = 0; k < KILLS; k++) {
        await sleep(400 + Math.random() * 1200);
        await sys.killScheduler(scheduler);
        const [a, b] = await Promise.all([sys.runs(work.catchUp.id), sys.runs(work.backfilled.id)]);
        progress.push(`${a.length}+${b.length}`);
        scheduler = await sys.startScheduler();
      }
      scenario.note(`${KILLS} scheduler SIGKILLs; run records (catch-up + backfill) at each: ${progress.join(', ')}`);

      const lastKill = Date.now();
      await checkSchedulerWork(scenario, sys, intervals, TEAMS, work);
      scenario.note(`all runs completed ${((Date.now() - lastKill) / 1000).toFixed(1)} s after the last kill`);
    });
  });
});
