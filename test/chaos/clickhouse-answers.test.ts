import { ClickHouseExceptionProxy } from '../helpers/clickhouse-exception-proxy';
import { testEnv } from '../helpers/env';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed, type IntervalPlan } from './seed';
import { Scenario } from './summary';

const HOUR = 3_600_000;
const CLICKHOUSE_PORT = Number(new URL(testEnv.CLICKHOUSE_URL).port);

/** A chaos system whose workers read ClickHouse through `proxy`, with `rows` seeded for `team` (~670 bytes each). */
function throughProxy(
  proxy: { start(): Promise<unknown>; stop(): Promise<void> },
  team: number,
  rows: number[],
  overrides: Record<string, string> = {},
): { sys: ChaosSystem; intervals: IntervalPlan[] } {
  const sys = new ChaosSystem(overrides);
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, rows);
  before(async () => {
    await sys.setup();
    await seed(sys.ch, team, intervals, 512);
    await proxy.start();
  });
  after(async () => {
    await sys.teardown();
    await proxy.stop();
  });
  return { sys, intervals };
}

describe('chaos: ClickHouse answering slowly (an answer trickled for longer than the locks)', function () {
  this.timeout(90_000);
  const TEAM = 29;
  const proxy = new TcpFaultProxy(CLICKHOUSE_PORT);
  // ~300 KB an interval, trickled at 4 KiB per 100 ms: each run reads for ~7 s, more than twice the
  // workers' lock (3 s) and many times the idle limit (1 s), while ClickHouse is never silent for long.
  const { sys, intervals } = throughProxy(proxy, TEAM, [400, 400, 400, 400], { CLICKHOUSE_IDLE_TIMEOUT_MS: '1000' });

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

describe('chaos: ClickHouse sends an exception in the middle of an answer (status 200)', function () {
  this.timeout(90_000);
  const TEAM = 33;
  const proxy = new ClickHouseExceptionProxy(CLICKHOUSE_PORT);
  // ~5 MB of rows an interval, split at 1 MB, broken off after 60%: more than a batch (2 MiB) of rows
  // reached the destination, whole files of them, before the exception did.
  const { sys, intervals } = throughProxy(proxy, TEAM, [8000, 8000, 8000, 8000]);

  it('the broken attempt’s rows and split files are discarded, the interval redone: every row once', async () => {
    await new Scenario('ClickHouse exception mid-answer', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2, { CLICKHOUSE_URL: proxy.url })]);
      const exp = await sys.createExport({
        team_id: TEAM,
        ...range(intervals),
        config: { compression: null, max_file_size_mb: 1 },
      });
      const runs = await sys.checkAllExported(scenario, exp.id, TEAM, intervals, 60_000);
      scenario.note(`${proxy.broken.length} answers broken off after ${proxy.broken.join(', ')} bytes`);
      scenario.check(proxy.broken.length >= intervals.length, 'every interval’s first answer broken off');
      const puts = sys.proxy.seen.filter((r) => r.method === 'PUT' && r.url.includes('.jsonl')).length;
      const files = runs.reduce((n, r) => n + r.files.length, 0);
      scenario.note(`${puts} files written for ${files} kept`);
      scenario.check(puts > files, 'the broken attempts had written files before their exception');
      scenario.check(
        runs.every((r) => r.attempts >= 2),
        `each run retried after its broken answer: attempts ${runs.map((r) => r.attempts).join(', ')}`,
      );
      const failed = sys.logs('run failed, will retry');
      scenario.check(
        failed.length >= intervals.length && failed.every((l) => String(l.error).includes('DB::Exception')),
        `each broken attempt failed naming ClickHouse's exception: ${failed.map((l) => String(l.error)).join(' | ')}`,
      );
      await sys.checkClean(scenario);
    });
  });
});
