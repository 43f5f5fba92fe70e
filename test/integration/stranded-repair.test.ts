import { expect } from 'chai';
import { ConflictError, createLogger, runIdFor, type BatchExport } from '@bx/core';
import { BackfillService, ExportService, RunService, StrandedRepair } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { dropStoreAndQueue } from '../helpers/redis-prefix';

const HOUR = 3_600_000;
const logger = createLogger({}, 'error');

/**
 * A process killed between two of its writes (SIGKILL of the API, or Redis
 * gone between two calls) used to leave state nothing ever repaired: an
 * unpaused export off the schedule, runs Scheduled or Running with no job.
 * Each case below does exactly the writes the operation does before its
 * process dies, then lets the scheduler's repair pass (StrandedRepair) run.
 */
describe('StrandedRepair: what a process killed between two writes leaves behind', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let exports: ExportService;
  let sut: StrandedRepair;

  beforeEach(() => {
    prefix = uniqueName('bxstrand');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 100 });
    exports = new ExportService(store, queue, logger);
    sut = new StrandedRepair(store, queue, exports, logger);
  });
  afterEach(async () => dropStoreAndQueue(store, queue, prefix));

  const createExport = (extra: Record<string, unknown> = {}): Promise<BatchExport> =>
    exports.create({
      name: 'stranded',
      team_id: 1,
      interval: 'hour',
      destination: {
        type: 'S3',
        config: { bucket_name: 'bucket-one', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
      ...extra,
    });
  const scheduled = async (id: string) => (await store.schedule.onSchedule([id]))[0]!.scheduled;
  /** A run record of the export's interval `hoursAgo` back, Scheduled, with no job. */
  const runWithoutJob = async (exp: BatchExport, hoursAgo: number) => {
    const start = (Math.floor(Date.now() / HOUR) - hoursAgo) * HOUR;
    const id = runIdFor(exp.id, start);
    await store.runs.createMany([
      { id, export_id: exp.id, data_interval_start: start, data_interval_end: start + HOUR },
    ]);
    return id;
  };

  it('an unpause killed after writing the export: scheduled again, its held runs queued again', async () => {
    const exp = await createExport();
    const held = await runWithoutJob(exp, 2);
    await exports.pause(exp.id);
    // Unpause's first write (the export, paused: false), then its process dies before rescheduling.
    await store.exports.modify(exp.id, (current) => ({ ...current, paused: false, paused_reason: null }));
    expect(await scheduled(exp.id)).to.equal(false);
    // Unpausing again does not help: the export says it is not paused.
    await exports.unpause(exp.id);
    expect(await scheduled(exp.id)).to.equal(false);

    // The first pass only notes what it found (an unpause may be between its writes).
    expect(await sut.pass()).to.deep.equal({ exports: 0, runs: 0, backfills: 0 });
    expect(await scheduled(exp.id)).to.equal(false);
    expect(await sut.pass()).to.deep.equal({ exports: 1, runs: 1, backfills: 0 });
    expect(await scheduled(exp.id)).to.equal(true);
    expect(await queue.hasLiveJob([held])).to.deep.equal([true]);
    // Repaired means left alone afterwards.
    expect(await sut.pass()).to.deep.equal({ exports: 0, runs: 0, backfills: 0 });
    expect(await sut.pass()).to.deep.equal({ exports: 0, runs: 0, backfills: 0 });
  });

  // An unpause with backfill (and a PATCH) schedules from the stored cursor: its repair must not skip the paused span.
  for (const backfill of [true, false]) {
    it(`an unpause ${backfill ? 'with' : 'without'} backfill killed after writing the export: resumes from ${backfill ? 'the cursor' : 'now'}`, async () => {
      const hour = Math.floor(Date.now() / HOUR) * HOUR;
      const startAt = new Date(hour - 5 * HOUR).toISOString();
      const exp = await createExport({ start_at: startAt, paused: true });
      expect(await store.schedule.cursor(exp.id)).to.equal(hour - 5 * HOUR);
      // The unpause's writes before its process dies: its note, then the export.
      if (backfill) await store.schedule.markKeepCursor(exp.id);
      await store.exports.modify(exp.id, (current) => ({ ...current, paused: false, paused_reason: null }));
      await sut.pass();
      expect(await sut.pass()).to.include({ exports: 1 });
      expect(await store.schedule.cursor(exp.id)).to.equal(backfill ? hour - 5 * HOUR : hour);
      expect(await store.schedule.keepsCursor(exp.id), 'the note is gone once repaired').to.equal(false);
    });
  }

  it('a retry killed after setting the run back to Scheduled: queued again, not 409 forever', async () => {
    const exp = await createExport();
    const id = await runWithoutJob(exp, 3);
    expect((await store.runs.start(id)).status).to.equal('started');
    expect(await store.runs.fail(id, 'Failed', 'destination down', Date.now(), 1)).to.equal('ok');
    // Retry's first write (Scheduled), then its process dies before queueing the job.
    expect(await store.runs.reschedule(id)).to.equal(true);
    const runs = new RunService(store, queue, logger);
    let refused: unknown;
    await runs.retry(exp.id, id).catch((err: unknown) => (refused = err));
    expect(refused).to.be.instanceOf(ConflictError);

    await sut.pass();
    expect(await queue.hasLiveJob([id])).to.deep.equal([false]);
    expect((await sut.pass()).runs).to.equal(1);
    expect(await queue.hasLiveJob([id])).to.deep.equal([true]);
  });

  it('a run left Running by a killed worker while its export was paused: queued again after unpause', async () => {
    const exp = await createExport();
    const id = await runWithoutJob(exp, 1);
    // Its worker died mid-run; the job's next pick-up found the export paused and let the run be.
    expect((await store.runs.start(id)).status).to.equal('started');
    await exports.pause(exp.id);
    await exports.unpause(exp.id); // queues the held runs again, not a Running one
    expect(await queue.hasLiveJob([id])).to.deep.equal([false]);

    await sut.pass();
    expect((await sut.pass()).runs).to.equal(1);
    expect(await queue.hasLiveJob([id])).to.deep.equal([true]);
    // Its next attempt counts as after a crash and runs.
    const next = await store.runs.start(id);
    expect(next.status).to.equal('started');
  });

  it('leaves alone paused exports, ended ones and runs whose job is queued', async () => {
    const paused = await createExport({ paused: true });
    await runWithoutJob(paused, 1);
    const ended = await createExport({ start_at: new Date(Date.now() - 5 * HOUR).toISOString() });
    await store.schedule.set(ended.id, Date.now() + HOUR, null); // its cursor is past end_at: nothing due
    await exports.update(ended.id, { end_at: new Date(Date.now() - 2 * HOUR).toISOString() });
    const busy = await createExport();
    const queued = await runWithoutJob(busy, 1);
    await queue.enqueue([{ run_id: queued, export_id: busy.id, data_interval_start: 0, data_interval_end: 1 }]);

    for (let i = 0; i < 3; i++) expect(await sut.pass()).to.deep.equal({ exports: 0, runs: 0, backfills: 0 });
    expect(await scheduled(paused.id)).to.equal(false);
  });

  it('a backfill cancel killed after marking the backfill: cancelling again cancels its open runs', async () => {
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const exp = await createExport({ end_at: new Date(end).toISOString() });
    const backfills = new BackfillService(store, queue, logger);
    const created = await backfills.create(exp.id, {
      start_at: new Date(end - 4 * HOUR).toISOString(),
      end_at: new Date(end).toISOString(),
    });
    if (!('backfill' in created)) throw new Error('not created');
    const { backfill } = created;
    // Cancel's first write (the backfill marked cancelled), then its process dies before the runs.
    expect(await backfills.pump.cancel(backfill.id)).to.have.length(4);
    const midway = await backfills.get(exp.id, backfill.id);
    expect(midway).to.include({ status: 'Cancelled', finished_at: null });

    const after = await backfills.cancel(exp.id, backfill.id);
    expect(after).to.include({ status: 'Cancelled', total_runs: 4, finished_runs: 4, cancelled_runs: 4 });
    expect(after.finished_at).to.be.a('string');
    const runs = await store.runs.list(exp.id, { limit: 10 });
    expect(runs.map((r) => r.status)).to.deep.equal(['Cancelled', 'Cancelled', 'Cancelled', 'Cancelled']);
  });

  it('a backfill record of the wrong type under an export stops neither the walk nor the run repair', async () => {
    const exp = await createExport();
    const id = await runWithoutJob(exp, 3);
    // A key of another type listed under the export (written by hand, or half deleted).
    await store.redis.zadd(store.keys.exportBackfills(exp.id), 0, 'bad');
    await store.redis.set(store.keys.backfill('bad'), 'x');
    for (let i = 0; i < 2; i++) await sut.pass();
    expect(await queue.hasLiveJob([id]), 'the stranded run queued again').to.deep.equal([true]);
    expect(await store.backfills.enrolled(), 'the walk got through').to.equal(true);
  });
});
