import type { Run } from '@bx/core';
import { sleep } from '../helpers/processes';
import { ChaosSystem, inFlight } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';

const HOUR = 3_600_000;
const TEAM = 26;
const MAX_ATTEMPTS = 3;

/**
 * A run that kills its worker every time (out of memory on its rows, the OOM killer): each
 * worker is SIGKILLed as soon as it starts the run, and a fresh one replaces it.
 */
describe('chaos: a run whose worker is killed on every attempt', function () {
  this.timeout(120_000);
  const sys = new ChaosSystem({ RUN_MAX_ATTEMPTS: String(MAX_ATTEMPTS) });
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, [2_000]);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 64);
  });
  after(async () => sys.teardown());

  it(`ends Failed after RUN_MAX_ATTEMPTS (${MAX_ATTEMPTS}) attempts with a clear error, not retried forever`, async () => {
    await new Scenario('worker killed on every attempt', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(1)]);
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals) });

      let kills = 0;
      let run: Run | undefined;
      for (const until = Date.now() + 90_000; ; await sleep(50)) {
        [run] = await sys.runs(exp.id);
        if (run?.status === 'Failed') break;
        if (Date.now() > until) throw new Error(`run ${run?.status} after ${kills} kills`);
        const victim = sys.workers.find((w) => inFlight(w).length > 0);
        if (!victim) continue;
        await sys.killWorker(victim);
        kills++;
        sys.spawnWorker();
      }
      await sleep(5000); // a run retried anyway would start again now
      const [after] = await sys.runs(exp.id);
      const starts = sys.logs('run started').length;
      scenario.note(`${kills} kills, ${starts} attempts started; error: ${after!.error}`);
      scenario.check(after!.status === 'Failed', `run ${after!.status}`);
      scenario.check(
        after!.attempts <= MAX_ATTEMPTS && starts <= MAX_ATTEMPTS,
        `${after!.attempts} attempts recorded, ${starts} started (RUN_MAX_ATTEMPTS ${MAX_ATTEMPTS})`,
      );
      scenario.check(/times in a row without finishing/.test(after!.error ?? ''), `error: ${after!.error}`);
      scenario.check((await sys.queue.deadLetterIds()).includes(after!.id), 'the run is dead-lettered');
    });
  });
});
