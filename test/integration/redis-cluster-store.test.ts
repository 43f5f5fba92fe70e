import { expect } from 'chai';
import { Store } from '@bx/store';
import type { Cluster, Redis } from 'ioredis';
import { testEnv, uniqueName } from '../helpers/env';
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
});
