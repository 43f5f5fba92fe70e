import { expect } from 'chai';
import { runIdFor } from '@bx/core';
import { Store } from '@bx/store';
import type { Cluster, Redis } from 'ioredis';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { deleteKeysUnder } from '../helpers/redis-keys';

/** How many TIME commands a node has run, its scripts' included. */
async function timeCalls(node: Redis): Promise<number> {
  const stats = await node.info('commandstats');
  return Number(/cmdstat_time:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('store on a Redis Cluster', () => {
  const prefix = `{${uniqueName('bxk')}}`;
  let sut: Store;

  before(async () => {
    sut = Store.connect({ url: testEnv.REDIS_URL, clusterNodes: testEnv.TEST_REDIS_CLUSTER_NODES }, prefix);
    await sut.assertReachable();
  });
  after(async () => {
    await deleteKeysUnder(sut.redis, prefix);
    await sut.close();
  });

  it('reads the time of the node that holds the deployment’s keys, whichever node a client asks', async () => {
    const cluster = sut.redis as Cluster;
    const slot = Number(await cluster.cluster('KEYSLOT', sut.keys.schedule));
    const ranges = await cluster.cluster('SLOTS');
    const [host, port] = ranges.find(([from, to]) => slot >= from && slot <= to)![2]!;
    const nodes = cluster.nodes('master');
    const before = await Promise.all(nodes.map(timeCalls));
    for (let i = 0; i < 20; i++) expect(Math.abs((await sut.now()) - Date.now())).to.be.lessThan(60_000);
    const after = await Promise.all(nodes.map(timeCalls));
    const calls = nodes.map((node, i) => ({
      at: `${node.options.host}:${node.options.port}`,
      n: after[i]! - before[i]!,
    }));
    // Other tests may ask the owner too; no other node is asked by this store.
    for (const { at, n } of calls) {
      if (at === `${host}:${port}`) expect(n).to.be.at.least(20);
      else expect(n, at).to.equal(0);
    }
  });

  it("starts a run with its export and finishes it with its log (the worker's two scripts, every key in KEYS)", async () => {
    const T0 = Date.parse('2024-01-01T00:00:00Z');
    const exp = exportFixture('e1', T0);
    const run = { id: runIdFor('e1', T0), export_id: 'e1', data_interval_start: T0, data_interval_end: T0 + 3_600_000 };
    await sut.exports.create(exp, T0, null);
    await sut.runs.createMany([run]);
    const { token, ...started } = (await sut.runs.startWithExport(run.id, T0 + 4_000_000)) as { token: string };
    expect(started).to.deep.equal({
      status: 'started',
      attempt: 1,
      startedMs: T0 + 4_000_000,
      backfillId: null,
      receiptVersion: 1,
      export: exp,
    });
    const attempt = { attempt: 1, token, startedMs: T0 + 4_000_000 };
    expect(await sut.runs.setState(run.id, { uploads: [] }, attempt)).to.equal('ok');
    const line = { timestamp: new Date(T0).toISOString(), level: 'info', message: 'run completed records=2' };
    expect(
      await sut.runs.complete(run.id, { records: 2, bytes: 9, files: ['k'] }, T0 + 4_001_000, attempt, null, [line]),
    ).to.equal('ok');
    expect(await sut.runLogs.list(run.id)).to.deep.equal([line]);
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Completed', records_completed: 2, attempts: 1 });
    const stats = await sut.stats.snapshot();
    expect(stats.runsByStatus).to.include({ Running: 0, Completed: 1 });
    expect(stats.durations.find((d) => d.status === 'Completed')).to.include({ count: 1, sumSeconds: 1 });
  });
});
