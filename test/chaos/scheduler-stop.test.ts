import { sleep } from '../helpers/processes';
import { checkSchedulerWork, schedulerBed, schedulerWork } from './scheduler-bed';
import { Scenario } from './summary';

const TEAMS: [number, number] = [37, 38];
const WINDOW = 16;
const ROWS = Array.from({ length: 48 }, (_, i) => (i % 13 === 4 ? 0 : 20 + (i % 5) * 15));
const UNFINISHED = new Set(['Scheduled', 'Running', 'FailedRetryable']);

/**
 * One of two schedulers SIGSTOPped mid-work (a paused VM, a long GC pause) for 6 s, many
 * ticks, three times, while the other carries on; then SIGCONTed: its tick or backfill step,
 * worked out before the stop, lands after the other's. No interval twice, none skipped, and
 * the catch-up never more than its window of unfinished runs ahead of the workers.
 */
describe('chaos: a scheduler frozen (SIGSTOP) mid-work while another carries on, then woken', function () {
  this.timeout(120_000);
  const { sys, intervals } = schedulerBed(TEAMS, ROWS, WINDOW);

  it('every interval once, the window held, the backfill Completed with every run counted', async () => {
    await new Scenario('scheduler SIGSTOP / SIGCONT', sys).run(async (scenario) => {
      await sys.startWorkers(2);
      const work = await schedulerWork(sys, intervals, TEAMS, WINDOW);
      const [frozen] = await Promise.all([sys.startScheduler(), sys.startScheduler()]);
      let most = 0;
      let sampling = true;
      const sampler = (async () => {
        for (; sampling; await sleep(100)) {
          const runs = await sys.runs(work.catchUp.id);
          most = Math.max(most, runs.filter((r) => UNFINISHED.has(r.status)).length);
        }
      })();
      for (let k = 0; k < 3; k++) {
        await sleep(300 + Math.random() * 700);
        sys.freeze(frozen!);
        await sleep(6000);
        sys.thaw(frozen!);
      }
      await checkSchedulerWork(scenario, sys, intervals, TEAMS, work);
      sampling = false;
      await sampler;
      scenario.note(`at most ${most} unfinished catch-up runs at once (window ${WINDOW})`);
      scenario.check(most <= WINDOW, `catch-up ${most} runs ahead, window ${WINDOW}`);
      await sys.checkClean(scenario);
    });
  });
});
