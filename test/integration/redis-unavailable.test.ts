import { isRedisUnavailable } from '@bx/redis';
import { expect } from 'chai';
import { Cluster, Redis, ReplyError } from 'ioredis';
import { testEnv } from '../helpers/env';
import { closedPort } from '../helpers/processes';

/** What a command on `redis` rejects with. */
async function rejectionOf(command: Promise<unknown>): Promise<unknown> {
  return command.then(
    () => expect.fail('the command succeeded'),
    (err: unknown) => err,
  );
}

/** isRedisUnavailable: which errors of ioredis mean "Redis cannot serve now" (the API's 503). */
describe('isRedisUnavailable', function () {
  this.timeout(20_000);

  it('a Redis that does not answer: the command gave up after its retries', async () => {
    const sut = new Redis({ port: await closedPort(), maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    sut.on('error', () => undefined);
    const err = await rejectionOf(sut.get('k'));
    sut.disconnect();
    expect(isRedisUnavailable(err), String(err)).to.equal(true);
  });

  it('a connection that was closed', async () => {
    const sut = new Redis(testEnv.REDIS_URL);
    await sut.quit();
    const err = await rejectionOf(sut.get('k'));
    expect(isRedisUnavailable(err), String(err)).to.equal(true);
  });

  it('a Redis that is there but cannot serve now (loading, replica, full, failing over, a slot moving)', () => {
    for (const reply of [
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      "OOM command not allowed when used memory > 'maxmemory'.",
      'CLUSTERDOWN The cluster is down',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'MOVED 4294 127.0.0.1:7002',
      'ASK 4294 127.0.0.1:7002',
    ]) {
      expect(isRedisUnavailable(new ReplyError(reply)), reply).to.equal(true);
    }
  });

  it('a Cluster with no node to ask, not ready, or that gave up redirecting', async () => {
    for (const options of [{ clusterRetryStrategy: () => null }, { enableOfflineQueue: false }]) {
      const sut = new Cluster([{ host: '127.0.0.1', port: await closedPort() }], options);
      sut.on('error', () => undefined);
      const err = await rejectionOf(sut.get('k'));
      sut.disconnect();
      expect(isRedisUnavailable(err), String(err)).to.equal(true);
    }
    // ioredis's own words after 16 MOVED, ASK, TRYAGAIN, CLUSTERDOWN or closed connections in a row
    // (api-redis-cluster-failover.test.ts provokes them on a real cluster).
    for (const last of [new ReplyError('MOVED 4294 127.0.0.1:7002'), new Error('Connection is closed.')]) {
      const err = new Error(`Too many Cluster redirections. Last error: ${last}`);
      expect(isRedisUnavailable(err), err.message).to.equal(true);
    }
  });

  it('not errors of the request or the code: a wrong command, a wrong type, anything else', async () => {
    const redis = new Redis(testEnv.REDIS_URL);
    const wrongArgs = await rejectionOf(redis.call('GET'));
    await redis.quit();
    expect(isRedisUnavailable(wrongArgs), String(wrongArgs)).to.equal(false);
    expect(
      isRedisUnavailable(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')),
    ).to.equal(false);
    expect(isRedisUnavailable(new Error('LOADING'))).to.equal(false);
    expect(isRedisUnavailable(new ReplyError('CROSSSLOT Keys in request do not hash to the same slot'))).to.equal(
      false,
    );
    expect(isRedisUnavailable(new ReplyError('ASKING is not allowed'))).to.equal(false);
    expect(isRedisUnavailable(new TypeError('x is undefined'))).to.equal(false);
    expect(isRedisUnavailable('Connection is closed.')).to.equal(false);
  });
});
