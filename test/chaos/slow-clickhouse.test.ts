import { testEnv } from '../helpers/env';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';

const HOUR = 3_600_000;
const TEAM = 29;
const IDLE_MS = 1000;
// ~300 KB an interval, trickled at 4 KiB per 100 ms: each run reads for ~7 s, more than twice the
// workers' lock (3 s) and many times the idle limit, while ClickHouse is never silent for long.
const ROWS = [400, 400, 400, 400];

describe('chaos: ClickHouse answering slowly (an answer trickled for longer than the locks)', function () {
  this.timeout(90_000);
  const sys = new ChaosSystem({ CLICKHOUSE_IDLE_TIMEOUT_MS: String(IDLE_MS), WORKER_CONCURRENCY: '2' });
  const proxy = new TcpFaultProxy(Number(new URL(testEnv.CLICKHOUSE_URL).port));
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 512);
    await proxy.start();
  });
  after(async () => {
    await sys.teardown();
    await proxy.stop();
  });

  it('each run is read to its end by its one attempt, none cut as stalled or taken over; every row once', async () => {
    await new Scenario('ClickHouse trickling answers', sys).run(async (scenario) => {
      proxy.fault = 'trickle';
      proxy.trickleBytes = 4096;
      proxy.trickleEveryMs = 100;
      await Promise.all([
        sys.startScheduler(),
        sys.startWorkers(2, { CLICKHOUSE_URL: `http://127.0.0.1:${proxy.port}` }),
      ]);
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals) });
      const began = Date.now();
      const runs = await sys.checkAllExported(scenario, exp.id, TEAM, intervals, 60_000);
      const seconds = (Date.now() - began) / 1000;
      scenario.note(`${proxy.forwarded} answer bytes trickled; all runs completed in ${seconds.toFixed(1)} s`);
      scenario.check(
        runs.every((r) => r.attempts === 1),
        `one attempt per run, not ${runs.map((r) => r.attempts).join(', ')}`,
      );
      const stalled = sys.logs('run failed, will retry').filter((l) => String(l.error).includes('sent no data'));
      scenario.check(stalled.length === 0, `${stalled.length} attempts cut as stalled while ClickHouse sent data`);
      scenario.check(sys.logs('run superseded by a later attempt').length === 0, 'no attempt superseded');
      await sys.checkClean(scenario);
    });
  });
});
