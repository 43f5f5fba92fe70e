import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { RedisSnapshot } from '../helpers/redis-snapshot';
import { dropStoreAndQueue } from '../helpers/redis-prefix';

const HOUR = 3_600_000;
const T0 = Date.parse('2020-01-01T00:00:00Z');
const logger = createLogger({}, 'error');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Redis under `appendfsync everysec` loses the writes of its last second in a
 * crash of its machine, while the processes that made them carry on. Here the
 * lost second is replayed on the test's own keys: a snapshot of every key
 * under its prefix (DUMP) taken at the moment the loss goes back to, put back
 * (RESTORE) after the writes that the crash takes with it.
 */
describe('a backfill after Redis lost its last second', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let sut: BackfillService;
  let exportId: string;

  beforeEach(async () => {
    prefix = uniqueName('bxlost');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 1, backoffMs: 10 });
    sut = new BackfillService(store, queue, logger, () => T0 + 10 * HOUR);
    exportId = randomUUID();
    await store.exports.create(exportFixture(exportId, T0), T0 + HOUR, null);
  });
  afterEach(async () => {
    await dropStoreAndQueue(store, queue, prefix);
  });

  /** What a worker does with one run: its start, then its outcome (fenced by the attempt, as the worker's). */
  const work = async (hour: number, outcome: 'Completed' | 'Failed', records = 10) => {
    const id = runIdFor(exportId, T0 + hour * HOUR);
    const start = await store.runs.start(id);
    if (start.status !== 'started') throw new Error(`run ${hour} did not start: ${start.status}`);
    const attempt = { attempt: start.attempt, token: start.token };
    const answer =
      outcome === 'Completed'
        ? await store.runs.complete(id, { records, bytes: 1, files: [] }, Date.now(), attempt, start.backfillId)
        : await store.runs.fail(id, 'Failed', 'boom', Date.now(), attempt, start.backfillId);
    expect(answer).to.equal('ok');
  };

  /**
   * The backfill's first step (API) writes its runs and jobs, then moves its
   * cursor; the crash loses the cursor's move and what came after (here the
   * run of hour 0 finishing). Once Redis is back, a worker runs hour 0 again
   * before a scheduler's step redoes the lost one; then the other runs finish.
   */
  const lostCursorMove = async (first: 'Completed' | 'Failed') => {
    const snapshot = new RedisSnapshot(store.redis, prefix);
    const advance = store.backfills.advance.bind(store.backfills);
    store.backfills.advance = async (...args) => {
      await snapshot.take();
      return advance(...args);
    };
    const created = await sut.create(exportId, {
      start_at: new Date(T0).toISOString(),
      end_at: new Date(T0 + 3 * HOUR).toISOString(),
    });
    if (!('backfill' in created)) throw new Error('not created');
    store.backfills.advance = advance;
    await work(0, first);
    await snapshot.restore(); // the crash: the last second of writes is gone

    await work(0, first); // its job came back (its move to completed was lost too): run again
    // A scheduler redoes the step the crash undid, once the step lock that came back with the loss expires.
    const id = created.backfill.id;
    for (const until = Date.now() + 10_000; !(await store.backfills.get(id))!.started_all; await sleep(100)) {
      if (Date.now() > until) throw new Error('the lost step was not redone');
      await sut.pump.step(id);
    }
    await work(1, 'Completed');
    await work(2, 'Completed');
    return sut.get(exportId, id);
  };

  it('counts a run it completed once, not again as skipped when its lost step is redone', async () => {
    const backfill = await lostCursorMove('Completed');
    expect(backfill).to.deep.include({
      status: 'Completed',
      total_runs: 3,
      finished_runs: 3,
      skipped_runs: 0,
      failed_runs: 0,
      records_completed: 30,
      progress: 1,
    });
  });

  it('does not run again a run it failed, nor count it twice, when its lost step is redone', async () => {
    const backfill = await lostCursorMove('Failed');
    expect(backfill).to.deep.include({
      status: 'Failed',
      total_runs: 3,
      finished_runs: 3,
      skipped_runs: 0,
      failed_runs: 1,
      records_completed: 20,
    });
    expect((await store.runs.get(runIdFor(exportId, T0)))!.status).to.equal('Failed');
  });
});
