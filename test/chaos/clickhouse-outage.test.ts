import { sleep } from '../helpers/processes';
import { chaosServices } from './chaos-services';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 13;
const OUTAGE_MS = 30_000;
const ROWS = Array.from({ length: 24 }, (_, i) => (i === 20 ? 0 : i % 3 === 1 ? 10_000 : 1_500));

describe('chaos: ClickHouse stopped for 30 s', function () {
  this.timeout(240_000);
  // Enough attempts to outlast the outage with a 200 ms first backoff (doubling);
  // one run per worker so that most runs are still to do when ClickHouse goes.
  const sys = new ChaosSystem({ RUN_MAX_ATTEMPTS: '25', CLICKHOUSE_IDLE_TIMEOUT_MS: '5000', WORKER_CONCURRENCY: '1' });
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 512);
  });
  after(async () => sys.teardown());

  it('killed mid-query: runs fail retryably while it is down, then complete; every row exported once', async () => {
    await new Scenario('ClickHouse stopped 30 s', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
      const exp = await sys.createExport({ team_id: TEAM, ...range(intervals) });

      // Two runs done, and one in flight for the outage to cut (waited for, not hoped for at that moment).
      const before = await sys.completedAtLeast(exp.id, 2, 60_000, 1);
      const running = before.filter((r) => r.status === 'Running').length;
      const stoppedAt = Date.now();
      // SIGKILL, not a drain: the queries in flight are cut mid-stream.
      await chaosServices.kill('clickhouse');
      await sleep(OUTAGE_MS - (Date.now() - stoppedAt));
      const during = await sys.runs(exp.id);
      await chaosServices.start('clickhouse');
      const upAt = Date.now();
      scenario.note(
        `stopped with ${running} runs running, up again after ${((upAt - stoppedAt) / 1000).toFixed(1)} s; ` +
          `${during.filter((r) => r.status === 'FailedRetryable').length} runs waiting to retry at that moment`,
      );

      const runs = await sys.settled(exp.id, intervals.length, 120_000);
      scenario.note(`all runs completed ${((Date.now() - upAt) / 1000).toFixed(1)} s after ClickHouse came back`);
      const verdict = await verifyExport({
        ...sys,
        teamId: TEAM,
        spans: intervals.map((p) => p.span),
        prefix: 'team-',
      });
      scenario.checkExact(verdict);
      scenario.check(
        runs.every((r, i) => r.status === 'Completed' && r.records_completed === intervals[i]!.rows),
        'every run Completed with its interval’s row count',
      );
      const retried = runs.filter((r) => r.attempts > 1);
      scenario.check(retried.length > 0, 'the outage made runs fail retryably');
      scenario.note(`${retried.length} runs retried, up to ${Math.max(...runs.map((r) => r.attempts))} attempts`);
      const open = sys.uploadsLeftOpen();
      scenario.check(open.known.length === 0, `multipart uploads left open: ${open.known.join(', ')}`);
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
    });
  });
});
