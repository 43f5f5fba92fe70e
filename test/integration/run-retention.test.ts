import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService, RunRetention } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { dropStoreAndQueue } from '../helpers/redis-prefix';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const logger = createLogger({}, 'error');

/**
 * Run history with retention: finished runs older than RUN_RETENTION_DAYS
 * go with their logs, and their intervals stay known as exported in a
 * compact form (merged ranges) that backfills and dry runs still honour.
 */
describe('run retention', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  const exportId = randomUUID();
  const runOf = (h: number) => runIdFor(exportId, T0 + h * HOUR);

  /** Creates hourly runs [from, to) and brings each to `status`, finishing at `at`. */
  const runs = async (from: number, to: number, status: 'Completed' | 'Failed' | 'Scheduled', at: number) => {
    const ids: string[] = [];
    for (let h = from; h < to; h++) ids.push(runOf(h));
    await store.runs.createMany(
      ids.map((id, i) => ({
        id,
        export_id: exportId,
        data_interval_start: T0 + (from + i) * HOUR,
        data_interval_end: T0 + (from + i + 1) * HOUR,
      })),
      at,
    );
    if (status === 'Scheduled') return;
    for (const id of ids) {
      await store.runs.start(id, at);
      if (status === 'Completed') await store.runs.complete(id, { records: 1, bytes: 1, files: [] }, at);
      else await store.runs.fail(id, 'Failed', 'no bucket', at);
      await store.runLogs.append(id, [{ timestamp: new Date(at).toISOString(), level: 'info', message: 'done' }]);
    }
  };

  beforeEach(async () => {
    prefix = uniqueName('bxret');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 10 });
    await store.exports.create(exportFixture(exportId, T0), T0 + 400 * DAY, null);
  });
  afterEach(async () => dropStoreAndQueue(store, queue, prefix));

  it('removes finished runs older than the retention with their logs; completed intervals stay known exported', async () => {
    const now = T0 + 200 * DAY;
    await runs(0, 10, 'Completed', T0 + DAY); // old: removed, known exported as one range
    await runs(10, 12, 'Failed', T0 + DAY); // old, never exported: removed, not known exported
    await runs(12, 20, 'Completed', T0 + DAY); // old: a second range
    await runs(20, 22, 'Scheduled', T0 + DAY); // not finished: kept whatever its age
    await runs(22, 24, 'Completed', now - DAY); // young: kept
    const sut = new RunRetention(store, queue, logger, 90 * DAY);

    expect(await sut.pass(now)).to.equal(20);
    expect(await sut.pass(now)).to.equal(0);
    const kept = (await store.runs.list(exportId, { limit: 100 })).map((r) => r.id).sort();
    expect(kept).to.deep.equal([runOf(20), runOf(21), runOf(22), runOf(23)]);
    expect(await store.runLogs.list(runOf(3))).to.deep.equal([]);
    expect(await store.runLogs.list(runOf(22))).to.have.length(1);
    expect(await store.runs.exportedRanges(exportId)).to.deep.equal([
      [T0, T0 + 10 * HOUR],
      [T0 + 12 * HOUR, T0 + 20 * HOUR],
    ]);
    expect(await store.redis.exists(store.keys.run(runOf(3)))).to.equal(0);
    // The counters moved with the records.
    expect((await store.stats.snapshot()).runsByStatus).to.deep.include({ Completed: 2, Failed: 0, Scheduled: 2 });
  });

  it('a backfill without force skips intervals known exported; with force it exports them again', async () => {
    const now = T0 + 200 * DAY;
    await runs(0, 6, 'Completed', T0 + DAY);
    await runs(6, 8, 'Failed', T0 + DAY);
    await new RunRetention(store, queue, logger, 90 * DAY).pass(now);
    const sut = new BackfillService(store, queue, logger, () => now);
    const range = { start_at: new Date(T0).toISOString(), end_at: new Date(T0 + 8 * HOUR).toISOString() };

    expect(await sut.create(exportId, { ...range, dry_run: true })).to.deep.equal({
      plan: { total_runs: 8, to_export: 2, already_exported: 6, in_progress: 0 },
    });
    const plain = await sut.create(exportId, range);
    if (!('backfill' in plain)) throw new Error('not created');
    expect(plain.backfill).to.deep.include({ skipped_runs: 6, status: 'Running' });
    expect((await store.runs.list(exportId, { limit: 100 })).map((r) => r.id).sort()).to.deep.equal([
      runOf(6),
      runOf(7),
    ]);

    const forced = await sut.create(exportId, { ...range, force: true });
    if (!('backfill' in forced)) throw new Error('not created');
    expect(forced.backfill).to.deep.include({ skipped_runs: 2 }); // the two just queued by the first
    expect(await store.runs.list(exportId, { limit: 100 })).to.have.length(8);
  });

  it('merges adjacent ranges however the runs are removed: a year of hourly runs leaves one range', async () => {
    const now = T0 + 500 * DAY;
    // Three chunks removed in an order that makes every merge case happen: after, before, between.
    await runs(200, 300, 'Completed', T0 + DAY);
    await new RunRetention(store, queue, logger, 90 * DAY).pass(now);
    await runs(0, 100, 'Completed', T0 + DAY);
    await new RunRetention(store, queue, logger, 90 * DAY).pass(now);
    await runs(100, 200, 'Completed', T0 + DAY);
    await new RunRetention(store, queue, logger, 90 * DAY).pass(now);
    expect(await store.runs.exportedRanges(exportId)).to.deep.equal([[T0, T0 + 300 * HOUR]]);
  });
});
