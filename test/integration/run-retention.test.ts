import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService, RunRetention } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { EXPORTED_BLOCK_SLOTS, EXPORTED_SLOT_MS, Store, exportedBlockOf } from '@bx/store';
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
    const hours = Array.from({ length: 24 }, (_, h) => ({ start: T0 + h * HOUR, end: T0 + (h + 1) * HOUR }));
    const known = await store.runs.knownExported(exportId, hours);
    expect(known.map((k, h) => (k ? h : -1)).filter((h) => h >= 0)).to.deep.equal([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19,
    ]);
    // Only as exactly the intervals they were: ten exported hours are not a 10-hour interval exported
    // (after a change of the export's interval, that one is exported again).
    expect(await store.runs.knownExported(exportId, [{ start: T0, end: T0 + 10 * HOUR }])).to.deep.equal([false]);
    expect(await store.runs.knownExported(exportId, [{ start: T0, end: T0 + 11 * HOUR }])).to.deep.equal([false]);
    expect(await store.redis.exists(store.keys.run(runOf(3)))).to.equal(0);
    // The counters moved with the records.
    expect((await store.stats.snapshot()).runsByStatus).to.deep.include({ Completed: 2, Failed: 0, Scheduled: 2 });
  });

  it('ids left in the indexes without a record (evicted, deleted by hand) are dropped, not read forever', async () => {
    const now = T0 + 200 * DAY;
    await runs(0, 560, 'Completed', T0 + DAY);
    // 550 records gone while their ids stay indexed: more than one chunk (500) of the pass.
    const gone = Array.from({ length: 550 }, (_, h) => runOf(h));
    for (const id of gone) await store.redis.del(store.keys.run(id));
    const sut = new RunRetention(store, queue, logger, 90 * DAY);

    // The pass read the same 500 ids again and again, deleting none: it never returned.
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 10_000)));
    const removed = await Promise.race([sut.pass(now), hung]).finally(() => clearTimeout(timer));
    expect(removed).to.not.equal('hung');
    await sut.pass(now);
    expect(await store.redis.zcard(store.keys.finishedRuns)).to.equal(0);
    expect(await store.runs.list(exportId, { limit: 1000 })).to.deep.equal([]);
    // The ten runs that had records went as retention removes any: their intervals known exported.
    const hours = [550, 559].map((h) => ({ start: T0 + h * HOUR, end: T0 + (h + 1) * HOUR }));
    expect(await store.runs.knownExported(exportId, hours)).to.deep.equal([true, true]);
  });

  it('a run retried between the pass reading it and deleting it keeps its record and its new job', async () => {
    const now = T0 + 200 * DAY;
    await runs(0, 3, 'Failed', T0 + DAY);
    const retried = {
      run_id: runOf(1),
      export_id: exportId,
      data_interval_start: T0 + HOUR,
      data_interval_end: T0 + 2 * HOUR,
    };
    // The retry (API) lands right after the pass read the old finished runs.
    const read = store.runs.finishedBefore.bind(store.runs);
    store.runs.finishedBefore = async (before, limit) => {
      const ids = await read(before, limit);
      if (ids.includes(retried.run_id) && (await store.runs.reschedule(retried.run_id))) await queue.requeue(retried);
      return ids;
    };
    const sut = new RunRetention(store, queue, logger, 90 * DAY);

    expect(await sut.pass(now)).to.equal(2);
    expect(await store.runs.get(retried.run_id)).to.deep.include({ status: 'Scheduled' });
    // It used to lose its job (the pass dropped the jobs of every id it had read): Scheduled, never run.
    expect(await queue.hasLiveJob([retried.run_id])).to.deep.equal([true]);
  });

  it('a backfill without force skips intervals known exported; with force it exports them again', async () => {
    const now = T0 + 200 * DAY;
    await runs(0, 6, 'Completed', T0 + DAY);
    await runs(6, 8, 'Failed', T0 + DAY);
    await new RunRetention(store, queue, logger, 90 * DAY).pass(now);
    const sut = new BackfillService(store, queue, logger, () => now);
    const range = { start_at: new Date(T0).toISOString(), end_at: new Date(T0 + 8 * HOUR).toISOString() };

    expect(await sut.create(exportId, { ...range, dry_run: true })).to.deep.equal({
      plan: { ...range, total_runs: 8, to_export: 2, already_exported: 6, in_progress: 0 },
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

  it('the compact form is bounded: every other 5-minute interval costs at most a 13 KB bitmap per block', async () => {
    const now = T0 + 500 * DAY;
    const five = 300_000;
    const ids: string[] = [];
    const runsOfYear = [];
    // 4 days around the start of a bitmap block (blocks are 365 days of 5-minute slots from the epoch).
    const boundary = (exportedBlockOf(T0) + 1) * EXPORTED_BLOCK_SLOTS * EXPORTED_SLOT_MS;
    for (let s = boundary - 2 * DAY; s < boundary + 2 * DAY; s += five) {
      const id = runIdFor(exportId, s);
      ids.push(id);
      runsOfYear.push({ id, export_id: exportId, data_interval_start: s, data_interval_end: s + five });
    }
    await store.runs.createMany(runsOfYear, T0 + 380 * DAY);
    for (let k = 0; k < ids.length; k += 200)
      await Promise.all(
        ids.slice(k, k + 200).map(async (id, j) => {
          await store.runs.start(id, T0 + 380 * DAY);
          if ((k + j) % 2 === 0) await store.runs.complete(id, { records: 1, bytes: 1, files: [] }, T0 + 380 * DAY);
          else await store.runs.fail(id, 'Failed', 'x', T0 + 380 * DAY);
        }),
      );
    await new RunRetention(store, queue, logger, 90 * DAY).pass(now);
    const known = await store.runs.knownExported(
      exportId,
      runsOfYear.map((r) => ({ start: r.data_interval_start, end: r.data_interval_end })),
    );
    expect(known).to.deep.equal(known.map((_, i) => i % 2 === 0));
    const blocks = await store.redis.smembers(store.keys.exportedBlocks(exportId));
    expect(blocks.map(Number).sort()).to.include.members([exportedBlockOf(boundary) - 1, exportedBlockOf(boundary)]);
    let bytes = 0;
    for (const block of blocks)
      bytes += Number((await store.redis.memory('USAGE', store.keys.exportedBlock(exportId, Number(block)))) ?? 0);
    expect(bytes).to.be.at.most(2 * 13_300 + 2 * 100);
  });
});
