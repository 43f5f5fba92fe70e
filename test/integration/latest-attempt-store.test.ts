import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { RetryableError } from '@bx/core';
import { isLatestAttempt, requireLatestAttempt, type RunState } from '@bx/batch';
import { Store } from '@bx/store';
import { uniqueName } from '../helpers/env';

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// A real Redis of the test's own, on its own port, away at commit time: the shared one is never stopped.
describe("the attempt's latest-attempt read when the store (Redis) is briefly away", function () {
  this.timeout(30_000);
  let port: number;
  let store: Store;
  let redis: ChildProcess | null = null;
  let asked = 0;
  const state = (): RunState =>
    ({
      fresh: false,
      priorUnknown: false,
      isLatest: () => (asked++, store.runs.isLatestAttempt(uniqueName('run'), 1)),
    }) as RunState;

  beforeEach(async () => {
    port = await freePort();
    store = Store.connect(`redis://127.0.0.1:${port}`, uniqueName('bxt'));
    asked = 0;
  });
  afterEach(async () => {
    await store.close();
    if (redis?.pid) process.kill(redis.pid);
    redis = null;
  });

  it('a Redis that comes back within the wait answers: the attempt goes on', async () => {
    const sut = isLatestAttempt({
      ...state(),
      isLatest: async () => {
        try {
          return await state().isLatest!();
        } catch (err) {
          // The first read failed (Redis away): it comes back now.
          redis ??= spawn(
            'redis-server',
            ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
            {
              stdio: 'ignore',
            },
          );
          throw err;
        }
      },
    });
    // The run does not exist in this Redis: its answer is "not the latest", not an error.
    expect(await sut).to.equal(false);
    expect(redis).not.to.equal(null);
  });

  it('a Redis that stays away fails the attempt retryably as StoreUnavailable, saying so', async () => {
    const err = await requireLatestAttempt(state(), 1500).then(
      () => expect.fail('expected a failure'),
      (e: unknown) => e as RetryableError,
    );
    expect(err).to.be.instanceOf(RetryableError).with.property('code', 'StoreUnavailable');
    expect(err.message).to.match(/the store \(Redis\) did not answer/);
    expect(asked).to.be.greaterThan(1);
  });
});
