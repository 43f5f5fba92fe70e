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
 * counted twice, and every backfill ends with counts that add up. And what
 * that repair costs: a waiting backfill is settled when a torn run holds it, not
 * on every pass; earlier versions' backfills are enrolled once; one failure
 * stops no other backfill settling.
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

  const runId = (hour: number, exp = exportId) => runIdFor(exp, T0 + hour * HOUR);
  /** A backfill of `hours` hours from T0 (its first window started by the request). */
  const backfill = async (hours: number, force = false, exp = exportId): Promise<string> => {
    const end = new Date(T0 + hours * HOUR).toISOString();
    const created = await backfills.create(exp, { start_at: new Date(T0).toISOString(), end_at: end, force });
    if (!('backfill' in created)) throw new Error('not created');
    return created.backfill.id;
  };
  /** A worker's run: its start, then its outcome, as the worker records them. */
  const work = async (hour: number, records = 10, exp = exportId) => {
    const started = await store.runs.start(runId(hour, exp));
    if (started.status !== 'started') throw new Error(`run ${hour} did not start: ${started.status}`);
    const attempt = { attempt: started.attempt, token: started.token };
    const result = { records, bytes: 1, files: [] };
    expect(await store.runs.complete(runId(hour, exp), result, Date.now(), attempt, started.backfillId)).to.equal('ok');
  };
  /** A finish torn after its first write: the run's status (and rows) only, still open for its backfill. */
  const tornComplete = async (hour: number, records: number, exp = exportId) => {
    expect((await store.runs.start(runId(hour, exp))).status).to.equal('started');
    await store.redis.hset(`${prefix}:run:${runId(hour, exp)}`, 'status', 'Completed', 'records_completed', records);
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
  /** Two repair passes: one sees a waiting backfill, the next settles it if it did not move. */
  const settle = async () => {
    await sut.pass();
    await sut.pass();
  };
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

    await settle();
    await expectCompleted(id, 2, 12);
    expect(await store.backfills.openCount(id)).to.equal(0);
    const settled = counts(await store.backfills.get(id));
    await sut.pass();
    expect(counts(await store.backfills.get(id)), 'a third pass counts nothing again').to.deep.equal(settled);
  });

  it('a torn run another backfill runs again counts for the first one, which then finishes', async () => {
    const first = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    const second = await backfill(2, true); // forced: runs both intervals again
    await work(0, 10);
    await work(1, 10);
    await settle();
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
    await settle();
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
    await settle();
    await expectCompleted(first, 3, 30);
    await expectCompleted(second, 3, 12);
  });

  it('a cancel after a lost cursor move counts each interval once', async () => {
    const id = await lostMove(3);
    await work(0, 10);
    const cancelled = await backfills.cancel(exportId, id);
    await settle();
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
    await settle();
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
    await settle();
    await expectCompleted(id, 2, 12);
  });

  const newExport = async () => {
    const id = randomUUID();
    await store.exports.create(exportFixture(id, T0), T0 + HOUR, null);
    return id;
  };
  /** Counts the calls of settle-backfill.lua on the store's connection. */
  const countSettles = () => {
    const redis = store.redis as unknown as Record<string, (...args: unknown[]) => unknown>;
    const call = redis.bxSettleBackfill!.bind(store.redis);
    const counter = { calls: 0 };
    redis.bxSettleBackfill = (...args: unknown[]) => {
      counter.calls++;
      return call(...args);
    };
    return counter;
  };

  it('settles a waiting backfill that a torn run holds, not every waiting one on every pass', async () => {
    const waiting: [string, string][] = [];
    for (let i = 0; i < 20; i++) {
      const exp = await newExport();
      waiting.push([exp, await backfill(3, false, exp)]); // in their tail: runs queued, none torn
    }
    const settles = countSettles();
    for (let i = 0; i < 5; i++) await sut.pass();
    // Each seen unchanged on the second pass is looked at once; the old repair ran 5 × 20 scripts.
    expect(settles.calls).to.equal(20);
    expect(await store.redis.zcard(`${prefix}:backfills-settling`)).to.equal(20);
    const [exp, id] = waiting[0]!;
    await tornComplete(0, 7, exp);
    await work(1, 5, exp);
    await work(2, 5, exp);
    // It moved (two runs finished), but waits for a run its export no longer has unfinished
    // (the repair retracked the torn one): settled in the same pass.
    await sut.pass();
    expect(await backfills.get(exp, id)).to.deep.include({
      status: 'Completed',
      finished_runs: 3,
      records_completed: 17,
    });
    expect(settles.calls).to.equal(21);
  });

  it('enrolls once every backfill an earlier version left out, however many its export has', async () => {
    const old = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    await store.redis.zrem(`${prefix}:backfills-settling`, old); // its last step ran that version
    for (let i = 0; i < 60; i++) {
      await store.backfills.create({
        id: randomUUID(),
        export_id: exportId,
        start_at: new Date(T0 + 50 * HOUR).toISOString(),
        end_at: new Date(T0 + 51 * HOUR).toISOString(),
        force: false,
        total_runs: 1,
        created_at: new Date(T0 + 100 * HOUR + (i + 1) * 1000).toISOString(),
        cursor: T0 + 51 * HOUR,
      });
    }
    await sut.pass();
    await sut.pass();
    expect(await backfills.get(exportId, old)).to.deep.include({ status: 'Completed', records_completed: 12 });
    expect(await store.redis.exists(`${prefix}:backfills-enrolled`)).to.equal(1);

    // Done once for the store: another scheduler's repair does not walk again.
    const other = await backfill(2, false, await newExport());
    await store.redis.zrem(`${prefix}:backfills-settling`, other);
    await new StrandedRepair(store, queue, new ExportService(store, queue, logger), logger).pass();
    expect(await store.redis.zscore(`${prefix}:backfills-settling`, other)).to.equal(null);
  });

  it('a backfill that cannot be read or settled, or a failing export, stops no other settling', async () => {
    const broken = await newExport();
    const first = await backfill(2, false, broken);
    // A run id in its open set whose key holds no hash: settle-backfill.lua fails on it.
    await store.redis.zadd(`${prefix}:backfill-open:${first}`, T0, 'not-a-run');
    await store.redis.set(`${prefix}:run:not-a-run`, 'x');
    await store.redis.zadd(`${prefix}:backfills-settling`, 0, first); // settled first
    // One whose record is no hash: its counters cannot be read.
    await store.redis.zadd(`${prefix}:backfills-settling`, 0, 'not-a-backfill');
    await store.redis.set(`${prefix}:backfill:not-a-backfill`, 'x');
    const second = await backfill(2);
    await work(1, 5);
    await tornComplete(0, 7);
    // An export whose unfinished index is not a zset: the exports' part of every pass fails.
    const failing = await newExport();
    await store.redis.set(`${prefix}:unfinished:${failing}`, 'x');
    const passes = await Promise.allSettled([sut.pass()]);
    passes.push(...(await Promise.allSettled([sut.pass()])));
    expect(passes.map((p) => p.status)).to.deep.equal(['rejected', 'rejected']);
    expect(await backfills.get(exportId, second)).to.deep.include({ status: 'Completed', records_completed: 12 });
  });
});
