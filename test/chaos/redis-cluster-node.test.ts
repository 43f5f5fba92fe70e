import type { Cluster } from 'ioredis';
import { chaosServices } from './chaos-services';
import { ChaosSystem } from './chaos-system';
import { plan, range, seed } from './seed';
import { Scenario } from './summary';
import { verifyExport } from './verify';
import { sleep } from '../helpers/processes';

const HOUR = 3_600_000;
const TEAM = 13;
const ROWS = Array.from({ length: 12 }, (_, i) => (i === 6 ? 0 : i % 4 === 1 ? 8_000 : 1_500));
/** Longer than the nodes' cluster-node-timeout (5 s): the others mark the node failed. */
const DOWN_MS = 7_000;

/** The port of the master that serves `key`'s slot, and of one that does not. */
async function mastersOf(cluster: Cluster, key: string): Promise<{ owner: number; other: number }> {
  const slot = Number(await cluster.cluster('KEYSLOT', key));
  const ranges = await cluster.cluster('SLOTS');
  const owner = ranges.find(([from, to]) => from <= slot && slot <= to)![2]![1];
  const other = ranges.map((r) => r[2]![1]).find((port) => port !== owner)!;
  return { owner, other };
}

describe('chaos: a Redis Cluster node SIGKILLed mid-backfill', function () {
  this.timeout(240_000);
  const sys = new ChaosSystem({ REDIS_CLUSTER_NODES: chaosServices.clusterNodes });
  const intervals = plan(Math.floor(Date.now() / HOUR) * HOUR, HOUR, ROWS);

  before(async function () {
    if (!chaosServices.clusterNodes) this.skip();
    await sys.setup();
    await seed(sys.ch, TEAM, intervals, 512);
  });
  after(async () => sys.teardown());

  it('the master of its keys, then another, killed and restarted: every row exported once', async () => {
    await new Scenario('Redis Cluster node SIGKILL', sys).run(async (scenario) => {
      await Promise.all([sys.startScheduler(), sys.startWorkers(2)]);
      const exp = await sys.createExport({ team_id: TEAM, end_at: range(intervals).end_at });
      const created = await sys.backfills.create(exp.id, range(intervals));
      if (!('backfill' in created)) throw new Error('backfill not created');
      const { owner, other } = await mastersOf(sys.store.redis as Cluster, `${sys.prefix}:x`);

      for (const [after, port] of [
        [3, owner],
        [7, other],
      ] as const) {
        const runs = await sys.completedAtLeast(exp.id, after, 90_000);
        await chaosServices.killClusterNode(port);
        await sleep(DOWN_MS);
        await chaosServices.start('redis-cluster');
        scenario.note(
          `node :${port} (${port === owner ? 'master of the keys' : 'another master'}) SIGKILLed ` +
            `with ${runs.filter((r) => r.status === 'Completed').length} runs done, back ${DOWN_MS / 1000} s later`,
        );
      }

      const runs = await sys.settled(exp.id, intervals.length, 120_000);
      const verdict = await verifyExport({
        ...sys,
        teamId: TEAM,
        spans: intervals.map((p) => p.span),
        prefix: `team-${TEAM}/`,
      });
      scenario.checkExact(verdict);
      scenario.check(
        runs.every((r, i) => r.status === 'Completed' && r.records_completed === intervals[i]!.rows),
        'every run Completed with its interval’s row count',
      );
      const status = await sys.backfills.get(exp.id, created.backfill.id);
      scenario.check(
        status.status === 'Completed' && status.finished_runs === intervals.length,
        `backfill ${status.status}, ${status.finished_runs}/${status.total_runs} runs finished`,
      );
      scenario.check((await sys.queue.deadLetterIds()).length === 0, 'no run dead-lettered');
      scenario.check(sys.crashed().length === 0, `processes died on their own: ${sys.crashed().join('; ')}`);
    });
  });
});
