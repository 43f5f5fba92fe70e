import { expect } from 'chai';
import { Redis } from 'ioredis';
import { ApiHarness } from '../helpers/api-harness';
import { testEnv } from '../helpers/env';
import { HttpFaultProxy } from '../helpers/http-fault-proxy';
import { eventually } from '../helpers/processes';

const CONCURRENT = 25;

/**
 * /healthz and /metrics need no token: each request pinged ClickHouse and
 * Redis, or read every export's counters from Redis, so a flood of them cost
 * the product as many reads. Concurrent requests share one read, and its
 * answer is kept a moment; the reads are counted where they arrive.
 */
describe('unauthenticated reads: /healthz and /metrics share their reads', function () {
  this.timeout(60_000);
  let proxy: HttpFaultProxy;
  let sut: ApiHarness;

  before(async () => {
    // Counts the requests that reach ClickHouse, and can slow them so that requests overlap.
    proxy = await new HttpFaultProxy(Number(new URL(testEnv.CLICKHOUSE_URL).port)).start();
    sut = await new ApiHarness({ clickhouseUrl: proxy.url }).start();
  });
  after(async () => {
    await sut.close();
    await proxy.stop();
  });

  const pings = () => proxy.seen.filter((r) => r.url.startsWith('/ping')).length;

  it(`${CONCURRENT} concurrent GET /healthz ping ClickHouse once, and a later one pings again`, async () => {
    const slow = proxy.inject({ kind: 'delay', minMs: 500, maxMs: 500 }, 60_000);
    const before = pings();
    const answers = await Promise.all(
      Array.from({ length: CONCURRENT }, () => sut.call('GET', '/healthz', { token: null })),
    );
    proxy.clear();
    await slow;
    for (const res of answers) expect(res.json).to.deep.equal({ status: 'ok', redis: 'ok', clickhouse: 'ok' });
    expect(pings() - before, 'pings that reached ClickHouse').to.equal(1);

    // The answer is kept a moment only: health stays current.
    await eventually(
      async () => {
        await sut.call('GET', '/healthz', { token: null });
        return pings() - before >= 2 ? true : undefined;
      },
      20_000,
      'a later /healthz pinging ClickHouse again',
    );
  });

  it(`${CONCURRENT} concurrent GET /metrics read the counters from Redis once`, async () => {
    const monitor = new Redis(testEnv.REDIS_URL);
    const key = sut.store.keys.runsByStatus;
    let reads = 0;
    const feed = await monitor.monitor();
    feed.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'hgetall' && args[1] === key) reads++;
    });
    try {
      // A read of this API's counters shows in the feed: it is listening.
      await eventually(
        async () => {
          await sut.store.redis.hgetall(key);
          return reads > 0 ? true : undefined;
        },
        10_000,
        'MONITOR seeing this test’s commands',
      );
      // Past the time an earlier answer is kept: the next scrape reads.
      const start = reads;
      await eventually(
        async () => {
          await sut.call('GET', '/metrics', { token: null });
          return reads > start ? true : undefined;
        },
        20_000,
        'a scrape reading the counters',
      );
      const seen = reads;
      const answers = await Promise.all(
        Array.from({ length: CONCURRENT }, () => sut.call('GET', '/metrics', { token: null })),
      );
      for (const res of answers) expect(res.text).to.contain('bx_runs{status="Completed"}');
      // The feed is asynchronous: a read of the counters by this test marks the end of what the scrapes sent.
      await sut.store.redis.hgetall(key);
      await eventually(async () => (reads > seen ? true : undefined), 10_000, 'the marker read in the feed');
      expect(reads - seen - 1, 'counter reads of the concurrent scrapes').to.be.at.most(1);
    } finally {
      feed.disconnect();
      monitor.disconnect();
    }
  });
});
