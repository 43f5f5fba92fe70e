import { expect } from 'chai';
import { createLogger, runIdFor, type IntervalName } from '@bx/core';
import { BackfillService, ExportService, RunRetention } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { EXPORTED_BLOCK_SLOTS, EXPORTED_SLOT_MS, Store, exportedBlockOf } from '@bx/store';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { QueueInspector } from '../helpers/queue-inspector';
import { dropStoreAndQueue } from '../helpers/redis-prefix';

const ms = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const D0 = ms('2024-01-01T00:00:00Z');
const logger = createLogger({}, 'error');

/**
 * One run record per (export, data_interval_start): after the export's
 * interval changes, an interval counts as exported only when a completed run
 * covered exactly the same [start, end); its record is then rewritten for the
 * new interval.
 */
describe('interval change: an interval is done only when a run covered exactly it', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let bullmq: QueueInspector;
  let clock: number;
  let exports: ExportService;
  let backfills: BackfillService;
  const scheduler = () => new Scheduler({ store, queue, logger, settleMs: 0 });

  const create = (interval: IntervalName) =>
    exports.create({
      name: 'e',
      team_id: 1,
      interval,
      destination: { type: 'S3', config: { bucket_name: 'bucket-one', ...S3_CREDENTIALS } },
    });

  /** Runs of [start, end) spans created and brought to Completed, as a worker would. */
  async function completed(exportId: string, spans: Array<[number, number]>): Promise<void> {
    await store.runs.createMany(
      spans.map(([s, e]) => ({
        id: runIdFor(exportId, s),
        export_id: exportId,
        data_interval_start: s,
        data_interval_end: e,
      })),
      clock,
    );
    for (const [s] of spans) {
      const id = runIdFor(exportId, s);
      expect((await store.runs.start(id, clock)).status).to.equal('started');
      const receipt = {
        records: 1,
        checksum: '1',
        min_inserted_at: null,
        max_inserted_at: null,
        files: [],
        version: 1,
      };
      expect(await store.runs.complete(id, { records: 1, bytes: 1, files: [], receipt }, clock)).to.equal('ok');
    }
  }

  /** The slots of [start, end) marked as the version before bounds did: cover bits alone. */
  async function oldMarks(exportId: string, start: number, end: number): Promise<void> {
    const block = exportedBlockOf(start);
    const at = (ms: number) => Math.floor(ms / EXPORTED_SLOT_MS) - block * EXPORTED_BLOCK_SLOTS;
    for (let slot = at(start); slot < at(end); slot++)
      await store.redis.setbit(store.keys.exportedBlock(exportId, block), slot, 1);
  }

  const plan = async (exportId: string, start: number, end: number) => {
    const answer = await backfills.create(exportId, { start_at: iso(start), end_at: iso(end), dry_run: true });
    return 'plan' in answer ? answer.plan : null;
  };
  const backfill = async (exportId: string, start: number, end: number) => {
    const answer = await backfills.create(exportId, { start_at: iso(start), end_at: iso(end) });
    return 'backfill' in answer ? answer.backfill : null;
  };
  const queued = async () =>
    (await bullmq.runs.getJobs(['waiting', 'prioritized', 'delayed'])).map(
      (j) => j.data as { run_id: string; data_interval_end: string },
    );

  beforeEach(() => {
    prefix = uniqueName('bxchg');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 10 });
    bullmq = new QueueInspector(prefix);
    clock = D0 + 3 * DAY + 30 * MINUTE;
    exports = new ExportService(store, queue, logger, () => clock);
    backfills = new BackfillService(store, queue, logger, () => clock);
  });
  afterEach(async () => {
    await bullmq.close();
    await dropStoreAndQueue(store, queue, prefix);
  });

  it('hour → day: a day of which one hour was exported is exported by a backfill; its record is rewritten', async () => {
    const exp = await create('hour');
    await completed(exp.id, [[D0, D0 + HOUR]]);
    await exports.update(exp.id, { interval: 'day' });

    expect(await plan(exp.id, D0, D0 + DAY)).to.deep.include({ total_runs: 1, to_export: 1, already_exported: 0 });
    const sut = await backfill(exp.id, D0, D0 + DAY);
    expect(sut).to.deep.include({ total_runs: 1, skipped_runs: 0 });
    const run = await store.runs.get(runIdFor(exp.id, D0));
    expect(run).to.deep.include({
      status: 'Scheduled',
      data_interval_start: iso(D0),
      data_interval_end: iso(D0 + DAY),
      backfill_id: sut!.id,
      receipt: null,
      records_completed: 0,
    });
    expect((await queued()).map((j) => [j.run_id, j.data_interval_end])).to.deep.equal([
      [runIdFor(exp.id, D0), iso(D0 + DAY)],
    ]);
    // Still one record for that start; the day counts as exported once its own run completes.
    expect((await store.runs.list(exp.id, { limit: 10 })).map((r) => r.id)).to.deep.equal([runIdFor(exp.id, D0)]);
    expect(await store.runs.start(run!.id, clock)).to.deep.include({ status: 'started', receiptVersion: 1 });
    await store.runs.complete(run!.id, { records: 5, bytes: 5, files: [] }, clock);
    expect(await plan(exp.id, D0, D0 + DAY)).to.deep.include({ to_export: 0, already_exported: 1 });
  });

  it('day → hour: an hour inside an exported day is exported again; the other direction of the same rule', async () => {
    const exp = await create('day');
    await completed(exp.id, [[D0, D0 + DAY]]);
    await exports.update(exp.id, { interval: 'hour' });
    expect(await plan(exp.id, D0, D0 + 3 * HOUR)).to.deep.include({ total_runs: 3, to_export: 3, already_exported: 0 });
    const sut = await backfill(exp.id, D0, D0 + 3 * HOUR);
    expect(sut).to.deep.include({ total_runs: 3, skipped_runs: 0 });
    const runs = await store.runs.list(exp.id, { limit: 10 });
    expect(runs.map((r) => [r.data_interval_start, r.data_interval_end, r.status])).to.deep.equal(
      [2, 1, 0].map((h) => [iso(D0 + h * HOUR), iso(D0 + (h + 1) * HOUR), 'Scheduled']),
    );
  });

  it('every 5 minutes ↔ hour: exported 5-minute intervals do not make the hour exported, nor the reverse', async () => {
    const exp = await create('every 5 minutes');
    const fives = Array.from(
      { length: 12 },
      (_, i) => [D0 + i * 5 * MINUTE, D0 + (i + 1) * 5 * MINUTE] as [number, number],
    );
    await completed(exp.id, fives);
    await exports.update(exp.id, { interval: 'hour' });
    expect(await plan(exp.id, D0, D0 + 2 * HOUR)).to.deep.include({ total_runs: 2, to_export: 2, already_exported: 0 });
    await completed(exp.id, [[D0 + HOUR, D0 + 2 * HOUR]]);
    await exports.update(exp.id, { interval: 'every 15 minutes' });
    expect(await plan(exp.id, D0 + HOUR, D0 + 2 * HOUR)).to.deep.include({ total_runs: 4, to_export: 4 });
    await exports.update(exp.id, { interval: 'hour' });
    expect(await plan(exp.id, D0 + HOUR, D0 + 2 * HOUR)).to.deep.include({ to_export: 0, already_exported: 1 });
  });

  it('after retention: a retained hour does not make its day exported, a retained day does not make its hours', async () => {
    const exp = await create('hour');
    await completed(exp.id, [[D0, D0 + HOUR]]);
    await completed(exp.id, [[D0 + DAY, D0 + 2 * DAY]]);
    await new RunRetention(store, queue, logger, HOUR).pass(clock + DAY);
    expect(await store.runs.list(exp.id, { limit: 10 })).to.deep.equal([]);
    const spans = [
      { start: D0, end: D0 + HOUR },
      { start: D0, end: D0 + DAY },
      { start: D0 + DAY, end: D0 + 2 * DAY },
      { start: D0 + DAY, end: D0 + DAY + HOUR },
      { start: D0 + DAY + HOUR, end: D0 + DAY + 2 * HOUR },
    ];
    expect(await store.runs.knownExported(exp.id, spans)).to.deep.equal([true, false, true, false, false]);
    expect(await plan(exp.id, D0, D0 + 2 * HOUR)).to.deep.include({ to_export: 1, already_exported: 1 });
    await exports.update(exp.id, { interval: 'day' });
    expect(await plan(exp.id, D0, D0 + 2 * DAY)).to.deep.include({ to_export: 1, already_exported: 1 });
    const sut = await backfill(exp.id, D0, D0 + 2 * DAY);
    expect(sut).to.deep.include({ total_runs: 2, skipped_runs: 1 });
    expect((await store.runs.get(runIdFor(exp.id, D0)))?.data_interval_end).to.equal(iso(D0 + DAY));
  });

  it('the scheduler: hour → day mid-day exports the rest of the day as one run, then whole days', async () => {
    clock = D0 + 14 * HOUR + 10 * MINUTE;
    const exp = await create('hour');
    // 14:00–15:00 is scheduled and exported; the change comes at 15:30.
    await scheduler().tick(D0 + 15 * HOUR);
    const ran = runIdFor(exp.id, D0 + 14 * HOUR);
    expect((await store.runs.get(ran))?.data_interval_end).to.equal(iso(D0 + 15 * HOUR));
    clock = D0 + 15 * HOUR + 30 * MINUTE;
    await exports.update(exp.id, { interval: 'day' });
    expect((await scheduler().tick(D0 + DAY - 1)).enqueued).to.equal(0);
    expect((await scheduler().tick(D0 + 2 * DAY)).enqueued).to.equal(2);
    const runs = (await store.runs.list(exp.id, { limit: 10 })).map((r) => [
      r.data_interval_start,
      r.data_interval_end,
    ]);
    expect(runs).to.deep.equal([
      [iso(D0 + DAY), iso(D0 + 2 * DAY)],
      [iso(D0 + 15 * HOUR), iso(D0 + DAY)], // the rest of the day: no hour lost, none twice
      [iso(D0 + 14 * HOUR), iso(D0 + 15 * HOUR)],
    ]);
  });

  it('the scheduler: a completed run of the old interval at the same start is rewritten and queued again', async () => {
    clock = D0 + 30 * MINUTE;
    const exp = await create('day');
    // A backfill under the hourly calendar exported 00:00–01:00 ahead of the schedule.
    await completed(exp.id, [[D0, D0 + HOUR]]);
    expect((await scheduler().tick(D0 + DAY)).enqueued).to.equal(1);
    expect(await store.runs.get(runIdFor(exp.id, D0))).to.deep.include({
      status: 'Scheduled',
      data_interval_end: iso(D0 + DAY),
    });
    expect((await queued()).map((j) => [j.run_id, j.data_interval_end])).to.deep.equal([
      [runIdFor(exp.id, D0), iso(D0 + DAY)],
    ]);
  });

  it('the scheduler: a run of the old interval still running at the same start holds the schedule until it ends', async () => {
    clock = D0 + 30 * MINUTE;
    const exp = await create('day');
    const id = runIdFor(exp.id, D0);
    await store.runs.createMany(
      [{ id, export_id: exp.id, data_interval_start: D0, data_interval_end: D0 + HOUR }],
      clock,
    );
    await store.runs.start(id, clock);
    await scheduler().tick(D0 + DAY);
    expect(await store.schedule.cursor(exp.id)).to.equal(D0); // not skipped
    await store.runs.complete(id, { records: 1, bytes: 1, files: [] }, clock);
    await scheduler().tick(D0 + DAY + HOUR);
    expect(await store.runs.get(id)).to.deep.include({ status: 'Scheduled', data_interval_end: iso(D0 + DAY) });
    expect(await store.schedule.cursor(exp.id)).to.equal(D0 + DAY);
  });
  it('a repair the reconciler started for the old interval does not touch the record rewritten for the new one', async () => {
    const exp = await create('hour');
    const id = runIdFor(exp.id, D0);
    await completed(exp.id, [[D0, D0 + HOUR]]);
    await exports.update(exp.id, { interval: 'day' });
    await backfill(exp.id, D0, D0 + DAY);
    await store.runs.start(id, clock);
    const receipt = { records: 5, checksum: '5', min_inserted_at: null, max_inserted_at: null, files: [], version: 1 };
    await store.runs.complete(id, { records: 5, bytes: 5, files: [], receipt }, clock);
    // Same start, same receipt version (1): only the interval tells the two apart.
    const compared = {
      status: 'repairing' as const,
      sourceRecords: 2,
      exportedRecords: 1,
      checkedAt: clock,
      version: 1,
    };
    expect(await store.reconciliation.repair(id, 1, { ...compared, start: D0, end: D0 + HOUR }, clock)).to.equal(false);
    expect((await store.runs.get(id))?.status).to.equal('Completed');
    expect(await store.reconciliation.repair(id, 1, { ...compared, start: D0, end: D0 + DAY }, clock)).to.equal(true);
  });

  it('marks kept by a version without bounds still count, as every slot covered', async () => {
    const exp = await create('hour');
    // An hour's twelve 5-minute slots, as the previous version marked them (no bounds bitmap).
    await oldMarks(exp.id, D0, D0 + HOUR);
    expect(await store.runs.knownExported(exp.id, [{ start: D0, end: D0 + HOUR }])).to.deep.equal([true]);
    expect(await plan(exp.id, D0, D0 + 2 * HOUR)).to.deep.include({ to_export: 1, already_exported: 1 });
  });

  // A new mark in the block used to make every old mark of it stop counting: those intervals were exported again.
  it('marks kept by a version without bounds still count after a new mark lands in their block', async () => {
    const exp = await create('hour');
    const block = exportedBlockOf(D0);
    // Hours 0 and 1 of D0, as the previous version marked them: cover bits, no bounds bitmap.
    await oldMarks(exp.id, D0, D0 + 2 * HOUR);
    // A run of the same block retained now: its mark brings the block its bounds bitmap.
    await completed(exp.id, [[D0 + 2 * DAY, D0 + 2 * DAY + HOUR]]);
    await new RunRetention(store, queue, logger, HOUR).pass(clock + DAY);
    expect(await store.redis.exists(store.keys.exportedBounds(exp.id, block))).to.equal(1);
    const spans = [
      { start: D0, end: D0 + HOUR },
      { start: D0 + HOUR, end: D0 + 2 * HOUR },
      { start: D0 + 2 * HOUR, end: D0 + 3 * HOUR },
      { start: D0 + 2 * DAY, end: D0 + 2 * DAY + HOUR },
    ];
    expect(await store.runs.knownExported(exp.id, spans)).to.deep.equal([true, true, false, true]);
    expect(await plan(exp.id, D0, D0 + 3 * HOUR)).to.deep.include({ to_export: 1, already_exported: 2 });
    // A backfill without force creates runs only where nothing is known exported (create-runs.lua).
    const sut = await backfill(exp.id, D0, D0 + 3 * HOUR);
    expect(sut).to.deep.include({ total_runs: 3, skipped_runs: 2 });
    expect(await store.runs.get(runIdFor(exp.id, D0))).to.equal(null);
    expect(await store.runs.get(runIdFor(exp.id, D0 + 2 * HOUR))).to.not.equal(null);
    // Later new marks leave the old ones be.
    await completed(exp.id, [[D0 + 3 * DAY - HOUR, D0 + 3 * DAY]]);
    await new RunRetention(store, queue, logger, HOUR).pass(clock + 2 * DAY);
    expect(await store.runs.knownExported(exp.id, spans.slice(0, 2))).to.deep.equal([true, true]);
  });

  it('a backfill under way when the interval changes goes on in the new calendar, never past its range', async () => {
    const exp = await create('hour');
    const sut = new BackfillService(store, queue, logger, () => clock, { runWindow: 2 }); // a run at a time
    const created = await sut.create(exp.id, { start_at: iso(D0), end_at: iso(D0 + 3 * HOUR) });
    if (!('backfill' in created)) throw new Error('not created');
    const first = runIdFor(exp.id, D0);
    await store.runs.start(first, clock);
    await store.runs.complete(first, { records: 1, bytes: 1, files: [] }, clock);
    await exports.update(exp.id, { interval: 'day' });
    await sut.pump.step(created.backfill.id);
    const runs = (await store.runs.list(exp.id, { limit: 10 })).map((r) => [
      r.data_interval_start,
      r.data_interval_end,
    ]);
    // The rest of the range as one run of the day's calendar, cut at the range's end (not at midnight).
    expect(runs).to.deep.equal([
      [iso(D0 + HOUR), iso(D0 + 3 * HOUR)],
      [iso(D0), iso(D0 + HOUR)],
    ]);
  });
});
