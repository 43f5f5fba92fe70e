import { isRedisUnavailable } from '@bx/redis';
import { expect } from 'chai';
import { Redis, ReplyError } from 'ioredis';
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

  it('a Redis that is there but cannot serve now (loading, replica, full, failing over)', () => {
    for (const reply of [
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      "OOM command not allowed when used memory > 'maxmemory'.",
      'CLUSTERDOWN The cluster is down',
      'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
    ]) {
      expect(isRedisUnavailable(new ReplyError(reply)), reply).to.equal(true);
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
    expect(isRedisUnavailable(new TypeError('x is undefined'))).to.equal(false);
    expect(isRedisUnavailable('Connection is closed.')).to.equal(false);
  });
});
