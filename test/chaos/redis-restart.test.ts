import type { Run } from '@bx/core';
import { chaosServices } from './chaos-services';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';

const HOUR = 3_600_000;
const TEAM = 12;
// Every fourth hour ~24 MB uncompressed: multipart uploads in flight while Redis is away.
const ROWS = Array.from({ length: 24 }, (_, i) => (i === 9 ? 0 : i % 4 === 1 ? 25_000 : 3_000));

describe('chaos: Redis restarted mid-backfill', function () {
  this.timeout(240_000);
  const sys = new ChaosSystem();
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async () => {
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 896);
  });
  after(async () => sys.teardown());

  it('a backfill survives Redis restarts (append-only file): no run lost, every row exported once', async () => {
    await new Scenario('Redis restarted mid-backfill', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(3)]);
      // Not scheduled (end_at is the backfill's end): the backfill is the only source of runs.
      const exp = await sys.createExport({
        team_id: TEAM,
        end_at: range(intervals).end_at,
        config: { compression: null },
      });
      const created = await sys.backfills.create(exp.id, { ...range(intervals), confirm: true });
      if (!('backfill' in created)) throw new Error('backfill not created');
      const { backfill } = created;

      // A quick restart, then one that outlasts the workers' locks (3 s).
      const restarts: string[] = [];
      for (const [after, downMs] of [
        [4, 0],
        [11, 5000],
      ] as const) {
        const runs = await sys.completedAtLeast(exp.id, after);
        const states = (s: Run['status']) => runs.filter((r) => r.status === s).length;
        const down = await chaosServices.restart(downMs, 'redis');
        restarts.push(
          `down ${(down / 1000).toFixed(1)} s with ${states('Completed')} runs done, ${states('Running')} running, ${states('Scheduled')} queued`,
        );
      }
      scenario.note(`Redis restarted twice: ${restarts.join('; ')}`);

      const runs = await sys.settled(exp.id, intervals.length, 90_000);
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
      const status = await sys.backfills.get(exp.id, backfill.id);
      scenario.check(
        status.status === 'Completed' && status.finished_runs === intervals.length,
        `backfill ${status.status}, ${status.finished_runs}/${status.total_runs} runs finished`,
      );
      const open = sys.uploadsLeftOpen();
      scenario.check(open.known.length === 0, `multipart uploads left open: ${open.known.join(', ')}`);
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
      // A worker whose lock expired while Redis was away runs on; the run's new attempt must win.
      const superseded = sys.logs('run superseded by a later attempt').length;
      const retried = runs.filter((r) => r.attempts > 1).length;
      scenario.note(
        `${retried} runs needed more than one attempt; ${superseded} attempts superseded after losing their lock`,
      );
    });
  });
});
