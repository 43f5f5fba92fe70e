import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService } from '@bx/operations';
import { MemoryRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { deleteKeysUnder } from '../helpers/redis-keys';

const HOUR = 3_600_000;
const T0 = Date.parse('2020-01-01T00:00:00Z');
const logger = createLogger({}, 'error');

/**
 * A cancel that stalls longer than the step lock lasts (6 s) lets another
 * scheduler's step run between its count of the intervals never started and
 * its write: those the step started were counted twice (as never started,
 * then as cancelled runs). The cancel's write now checks the cursor it
 * counted from, and counts again when it moved.
 */
describe('backfill cancel racing a step', function () {
  this.timeout(30_000);
  const prefix = uniqueName('bxcancelrace');
  let store: Store;

  before(() => {
    store = Store.connect(testEnv.REDIS_URL, prefix);
  });
  after(async () => {
    await deleteKeysUnder(store.redis, prefix);
    await store.close();
  });

  it('counts each interval once when a step starts runs while the cancel counts', async () => {
    const queue = new MemoryRunQueue({ attempts: 1, backoffMs: 10 });
    const exportId = randomUUID();
    await store.exports.create(exportFixture(exportId, T0), T0 + HOUR, null);
    const sut = new BackfillService(store, queue, logger, async () => T0 + 100 * HOUR, { runWindow: 2 });
    const created = await sut.create(exportId, {
      start_at: new Date(T0).toISOString(),
      end_at: new Date(T0 + 3 * HOUR).toISOString(),
    });
    if (!('backfill' in created)) throw new Error('not created');
    const id = created.backfill.id;
    const started = await store.runs.start(runIdFor(exportId, T0));
    if (started.status !== 'started') throw new Error(started.status);
    const attempt = { attempt: started.attempt, token: started.token };
    const result = { records: 1, bytes: 1, files: [] };
    await store.runs.complete(runIdFor(exportId, T0), result, Date.now(), attempt, started.backfillId);
    const startedBy = store.runs.startedBy.bind(store.runs);
    let stalls = 0;
    store.runs.startedBy = async (backfillId, ids) => {
      const answer = await startedBy(backfillId, ids);
      if (stalls++ === 0) {
        // The cancel stalls past its lock's life: another scheduler takes the lock and steps.
        await store.redis.del(store.keys.backfillLock(id));
        expect(await sut.pump.step(id)).to.equal(1);
      }
      return answer;
    };
    const { status, finished_runs, cancelled_runs, records_completed } = await sut.cancel(exportId, id);
    // Run 0 completed, run 1 started by the step then cancelled, run 2 never started.
    expect([status, finished_runs, cancelled_runs, records_completed]).to.deep.equal(['Cancelled', 3, 2, 1]);
  });
});
