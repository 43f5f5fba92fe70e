import { expect } from 'chai';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { testEnv, uniqueName } from '../helpers/env';
import { deleteKeysUnder } from '../helpers/redis-keys';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A backfill's step lock (BackfillRepository.lock). A scheduler SIGKILLed
 * mid-step leaves it behind: it used to last a minute, in which no scheduler
 * stepped the backfill (the chaos suite saw a backfill stand still 45 s after
 * a kill). Now it lasts seconds and its holder renews it while it works.
 */
describe('backfill step lock', function () {
  this.timeout(30_000);
  const prefix = uniqueName('bxlock');
  const id = randomUUID();
  let sut: Store;
  let holder: Store;

  before(() => {
    sut = Store.connect(testEnv.REDIS_URL, prefix);
    holder = Store.connect(testEnv.REDIS_URL, prefix);
  });
  after(async () => {
    await deleteKeysUnder(sut.redis, prefix);
    await sut.close();
  });

  it('is renewed while its holder lives, and freed within seconds when the holder dies', async () => {
    const release = await holder.backfills.lock(id);
    expect(release).to.be.a('function');
    // Longer than the lock lasts unrenewed (6 s): the live holder keeps it.
    await sleep(7_000);
    expect(await sut.backfills.lock(id)).to.equal(null);
    // The holder's process dies: no release, no renewal.
    holder.redis.disconnect();
    let taken: (() => Promise<void>) | null = null;
    for (const until = Date.now() + 15_000; !taken && Date.now() < until; await sleep(200)) {
      taken = await sut.backfills.lock(id);
    }
    expect(taken, 'lock taken over after its holder died').to.be.a('function');
    await taken!();
  });
});
