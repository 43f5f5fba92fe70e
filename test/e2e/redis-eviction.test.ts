import { expect } from 'chai';
import { Redis } from 'ioredis';
import { testEnv, uniqueName } from '../helpers/env';
import { OwnRedis } from '../helpers/own-redis';
import { ServiceProcess } from '../helpers/processes';

const STARTED = { api: 'api listening', scheduler: 'scheduler started', worker: 'worker started' } as const;

/**
 * A Redis that evicts keys when full (any `maxmemory-policy` but `noeviction`) drops exports,
 * runs and queued jobs without an error. Every role says so at start, in its own JSON log, once,
 * naming the policy and the setting that fixes it; a Redis that does not evict gets no such line.
 */
describe('Redis with an eviction policy: every role says so at start', function () {
  this.timeout(60_000);
  const redis = new OwnRedis();
  let admin: Redis;
  const processes: ServiceProcess[] = [];

  before(async () => {
    await redis.start();
    admin = new Redis(redis.url);
  });
  after(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    admin.disconnect();
    await redis.stop();
  });

  /** The role's log lines about eviction, once it has started. */
  async function evictionLines(role: keyof typeof STARTED): Promise<Array<Record<string, unknown>>> {
    const sut = new ServiceProcess(role, {
      REDIS_URL: redis.url,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      QUEUE_PREFIX: uniqueName('bxev'),
      ADMIN_API_TOKEN: 'eviction-token-0123456789abcdef',
      PORT: '0',
    });
    processes.push(sut);
    await sut.waitForLog(STARTED[role]);
    await sut.stop('SIGTERM');
    return sut.logs.filter((l) => /maxmemory-policy/.test(String(l.msg)));
  }

  for (const role of ['api', 'scheduler', 'worker'] as const) {
    it(`${role}: allkeys-lru is named with its consequence and the fix`, async () => {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const lines = await evictionLines(role);
      expect(lines, JSON.stringify(lines)).to.have.length(1);
      expect(lines[0]!.level).to.equal('error');
      expect(lines[0]!.msg)
        .to.contain('maxmemory-policy allkeys-lru')
        .and.contain('exports')
        .and.contain('maxmemory-policy noeviction');
    });
  }

  it('noeviction: no such line', async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    expect(await evictionLines('worker')).to.deep.equal([]);
  });
});
