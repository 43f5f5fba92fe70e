import { expect } from 'chai';
import { BullMqRunQueue } from '@bx/queue';
import { testEnv, uniqueName } from '../helpers/env';

/**
 * Bull Board's API answers 503 when the queues' Redis is away; a queue just
 * made (an API that has just started) is still connecting, which is not
 * Redis being away: CI saw the board's first request answered 503.
 */
describe('BullMqRunQueue.connectedWithin: a connection still being made is waited for', () => {
  it('a new queue on a Redis that answers: not connected yet, connected within the wait', async () => {
    const sut = new BullMqRunQueue({
      redis: { url: testEnv.REDIS_URL },
      prefix: uniqueName('bxc'),
      attempts: 1,
      backoffMs: 10,
    });
    try {
      expect(sut.connected(), 'at once').to.equal(false);
      expect(await sut.connectedWithin(10_000)).to.equal(true);
    } finally {
      await sut.close();
    }
  });

  it('nothing listening: not connected once the wait is over', async () => {
    const sut = new BullMqRunQueue({
      redis: { url: 'redis://127.0.0.1:1' },
      prefix: uniqueName('bxc'),
      attempts: 1,
      backoffMs: 10,
    });
    try {
      expect(await sut.connectedWithin(200)).to.equal(false);
    } finally {
      await sut.close().catch(() => undefined);
    }
  });
});
