import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService, ExportService, StrandedRepair } from '@bx/operations';
import { MemoryRunQueue } from '@bx/queue';
import { Store, type BackfillRecord } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { deleteKeysUnder, keysUnder } from '../helpers/redis-keys';

const HOUR = 3_600_000;
const T0 = Date.parse('2020-01-01T00:00:00Z');
const logger = createLogger({}, 'error');

/**
 * What a torn write (Redis replaying the first part of a script's
 * transaction, see backfill-lost-second.test.ts) leaves, written directly,
 * and what must follow: reads change nothing, the scheduler's stranded-run
 * repair settles the backfill, other backfills neither strand it nor get
 * counted twice, and every backfill ends with counts that add up.
 */
describe('backfills after torn writes', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: MemoryRunQueue;
  let backfills: BackfillService;
  let sut: StrandedRepair;
  let exportId: string;

  beforeEach(async () => {
    prefix = uniqueName('bxtornw');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new MemoryRunQueue({ attempts: 1, backoffMs: 10 });
    backfills = new BackfillService(store, queue, logger, () => T0 + 10 * HOUR);
    sut = new StrandedRepair(store, queue, new ExportService(store, queue, logger), logger);
    exportId = randomUUID();
    await store.exports.create(exportFixture(exportId, T0), T0 + HOUR, null);
  });
  afterEach(async () => {
    await deleteKeysUnder(store.redis, prefix);
    await store.close();
  });

  const runId = (hour: number) => runIdFor(exportId, T0 + hour * HOUR);
  /** A backfill of `hours` hours from T0 (its first window started by the request). */
  const backfill = async (hours: number, force = false): Promise<string> => {
    const end = new Date(T0 + hours * HOUR).toISOString();
    const created = await backfills.create(exportId, { start_at: new Date(T0).toISOString(), end_at: end, force });
    if (!('backfill' in created)) throw new Error('not created');
    return created.backfill.id;
  };
  /** A worker's run: its start, then its outcome, as the worker records them. */
  const work = async (hour: number, records = 10) => {
    const started = await store.runs.start(runId(hour));
    if (started.status !== 'started') throw new Error(`run ${hour} did not start: ${started.status}`);
    const attempt = { attempt: started.attempt, token: started.token };
    const result = { records, bytes: 1, files: [] };
    expect(await store.runs.complete(runId(hour), result, Date.now(), attempt, started.backfillId)).to.equal('ok');
  };
  /** A finish torn after its first write: the run's status (and rows) only, still open for its backfill. */
  const tornComplete = async (hour: number, records: number) => {
    expect((await store.runs.start(runId(hour))).status).to.equal('started');
    await store.redis.hset(`${prefix}:run:${runId(hour)}`, 'status', 'Completed', 'records_completed', records);
  };
  /** Every key under the prefix with its value. */
  const dump = async () => {
    const keys = (await keysUnder(store.redis, prefix)).sort();
    return Promise.all(keys.map(async (key) => [key, (await store.redis.dumpBuffer(key))?.toString('hex')]));
  };
  /** The backfill ended Completed, every interval counted once by it, none skipped. */
  const expectCompleted = async (id: string, total: number, records: number) =>
    expect(await backfills.get(exportId, id)).to.deep.include({
      status: 'Completed',
      total_runs: total,
      finished_runs: total,
      skipped_runs: 0,
      records_completed: records,
      progress: 1,
    });
  const counts = (b: BackfillRecord | null) => b && { ...b, cursor: 0, created_at: '', finished_ms: 0 };

  it('a read changes nothing; the stranded-run repair counts the torn run and finishes the backfill', async () => {
    const id = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    const before = await dump();
    const read = await store.backfills.get(id);
    expect((await backfills.get(exportId, id)).status).to.equal('Running');
    expect(await backfills.list(exportId)).to.have.length(1);
    expect(await dump(), 'reads wrote to Redis').to.deep.equal(before);
    expect(read).to.deep.include({ finished_runs: 1, finished_ms: null });

    await sut.pass();
    await expectCompleted(id, 2, 12);
    expect(await store.backfills.openCount(id)).to.equal(0);
    const settled = counts(await store.backfills.get(id));
    await sut.pass();
    expect(counts(await store.backfills.get(id)), 'a second pass counts nothing again').to.deep.equal(settled);
  });

  it('a torn run another backfill runs again counts for the first one, which then finishes', async () => {
    const first = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    const second = await backfill(2, true); // forced: runs both intervals again
    await work(0, 10);
    await work(1, 10);
    await sut.pass();
    await expectCompleted(first, 2, 12);
    await expectCompleted(second, 2, 20);
    expect(await store.backfills.openCount(first)).to.equal(0);
  });

  it('a torn run cut after its bf_open went, run again by another backfill, counts for the first', async () => {
    const first = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    // Cut between finish-run's HDEL of bf_open and its ZREM from the open set.
    await store.redis.hdel(`${prefix}:run:${runId(0)}`, 'bf_open');
    const second = await backfill(2, true);
    await work(0, 10);
    await work(1, 10);
    await sut.pass();
    await sut.pass();
    await expectCompleted(first, 2, 12);
    await expectCompleted(second, 2, 20);
  });

  /** A backfill whose first step's cursor move is lost (Redis lost its last second): its runs exist, its cursor did not move. */
  const lostMove = async (hours: number): Promise<string> => {
    const advance = store.backfills.advance.bind(store.backfills);
    store.backfills.advance = async () => true;
    try {
      return await backfill(hours);
    } finally {
      store.backfills.advance = advance;
    }
  };

  it('a step redone after another backfill ran its intervals again counts them once', async () => {
    const first = await lostMove(3);
    for (const hour of [0, 1, 2]) await work(hour, 10);
    const second = await backfill(3, true);
    await work(0, 4); // the second backfill runs one again, the others wait
    await backfills.pump.step(first); // the lost step redone
    await work(1, 4);
    await work(2, 4);
    await sut.pass();
    await expectCompleted(first, 3, 30);
    await expectCompleted(second, 3, 12);
  });

  it('a cancel after a lost cursor move counts each interval once', async () => {
    const id = await lostMove(3);
    await work(0, 10);
    const cancelled = await backfills.cancel(exportId, id);
    await sut.pass();
    expect(await backfills.get(exportId, id)).to.deep.equal(cancelled);
    expect(cancelled).to.deep.include({
      status: 'Cancelled',
      total_runs: 3,
      finished_runs: 3,
      cancelled_runs: 2,
      skipped_runs: 0,
      records_completed: 10,
      progress: 1,
    });
    expect((await store.runs.get(runId(2)))!.status).to.equal('Cancelled');
  });
  it('a torn run whose record is gone counts as skipped, and the backfill finishes', async () => {
    const id = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    expect(await store.runs.deleteMany([runId(0)], { retention: true })).to.equal(1);
    await sut.pass();
    expect(await backfills.get(exportId, id)).to.deep.include({
      status: 'Completed',
      total_runs: 2,
      finished_runs: 1,
      skipped_runs: 1,
      records_completed: 5,
      progress: 1,
    });
  });

  it('settles a backfill whose last step ran an earlier version (no settling set) too', async () => {
    const id = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    expect(await store.redis.zrem(`${prefix}:backfills-settling`, id)).to.equal(1); // as that version left it
    await sut.pass();
    await expectCompleted(id, 2, 12);
  });
});
