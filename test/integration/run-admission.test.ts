import { expect } from 'chai';
import { createLogger, runIdFor } from '@bx/core';
import { BackfillService, admitRuns } from '@bx/operations';
import { BullMqRunQueue, type RunJob } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { QueueInspector } from '../helpers/queue-inspector';
import { testEnv, uniqueName } from '../helpers/env';
import { dropStoreAndQueue } from '../helpers/redis-prefix';
import { exportFixture } from '../helpers/export-fixture';

const HOUR = 3_600_000;
const T0 = Date.parse('2020-01-01T00:00:00Z');
const logger = createLogger({}, 'error');

/** Thousands of runs at once: the batched scripts and pipelined enqueues, across their step boundaries. */
describe('creating and enqueueing runs in bulk', function () {
  this.timeout(60_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;

  const exportFor = (id: string) => exportFixture(id, T0);
  const hours = (exportId: string, n: number): RunJob[] =>
    Array.from({ length: n }, (_, i) => ({
      run_id: runIdFor(exportId, T0 + i * HOUR),
      export_id: exportId,
      data_interval_start: T0 + i * HOUR,
      data_interval_end: T0 + (i + 1) * HOUR,
    }));
  let bullmq: QueueInspector;
  const queued = (state: 'prioritized' | 'waiting') => bullmq.runs.getRanges([state], 0, -1, true);
  const scheduledCount = async () => (await store.stats.snapshot()).runsByStatus.Scheduled;

  beforeEach(() => {
    prefix = uniqueName('bxa');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 10 });
    bullmq = new QueueInspector(prefix);
  });
  afterEach(async () => {
    await bullmq.close();
    await dropStoreAndQueue(store, queue, prefix);
  });

  it('a backfill of 2,500 intervals starts its runs a window at a time, oldest first, each once; another then skips all', async () => {
    const e1 = randomUUID();
    await store.exports.create(exportFor(e1), T0 + 2500 * HOUR, null);
    const now = T0 + 2600 * HOUR;
    const sut = new BackfillService(store, queue, logger, () => now, { runWindow: 200 });
    const range = { start_at: new Date(T0).toISOString(), end_at: new Date(T0 + 2500 * HOUR).toISOString() };
    const expected = hours(e1, 2500).map((j) => j.run_id);

    const first = await sut.create(e1, { ...range, confirm: true });
    if (!('backfill' in first)) throw new Error('not created');
    expect(first.backfill).to.deep.include({ total_runs: 2500, finished_runs: 0, skipped_runs: 0, status: 'Running' });
    expect(await queued('prioritized')).to.deep.equal(expected.slice(0, 100));

    // Workers take what is queued and finish it; the pump starts the next intervals.
    const ran: string[] = [];
    let mostUnfinished = 0;
    for (let round = 0; ran.length < 2500 && round < 100; round++) {
      mostUnfinished = Math.max(mostUnfinished, (await store.runs.unfinishedCounts([e1]))[0]!);
      for (const id of await queued('prioritized')) {
        await queue.remove(id);
        const started = await store.runs.start(id, now);
        if (started.status !== 'started') throw new Error(`${id} ${started.status}`);
        await store.runs.complete(id, { records: 2, bytes: 10, files: [] }, now, started.attempt, started.backfillId);
        ran.push(id);
      }
      await sut.pump.pass();
    }
    expect(ran).to.deep.equal(expected);
    expect(mostUnfinished).to.equal(100);
    const done = await sut.get(e1, first.backfill.id);
    expect(done).to.deep.include({
      status: 'Completed',
      finished_runs: 2500,
      failed_runs: 0,
      skipped_runs: 0,
      records_completed: 5000,
      progress: 1,
    });
    expect(Date.parse(done.finished_at!)).to.be.at.least(Date.parse(done.created_at));
    expect(await scheduledCount()).to.equal(0);

    expect(await sut.create(e1, { ...range, dry_run: true })).to.deep.equal({
      plan: { ...range, total_runs: 2500, to_export: 0, already_exported: 2500, in_progress: 0 },
    });
    const second = await sut.create(e1, { ...range, confirm: true });
    if (!('backfill' in second)) throw new Error('not created');
    expect(await queued('prioritized')).to.deep.equal([]);
    expect(await sut.get(e1, second.backfill.id)).to.deep.include({ skipped_runs: 100, status: 'Running' });
    for (let i = 0; i < 30; i++) await sut.pump.pass();
    const skipped = await sut.get(e1, second.backfill.id);
    expect(skipped).to.deep.include({
      status: 'Completed',
      finished_runs: 0,
      skipped_runs: 2500,
      records_completed: 0,
    });
    expect(Date.parse(skipped.finished_at!)).to.be.at.least(Date.parse(skipped.created_at));
    // The second backfill did not take the runs over.
    expect((await store.runs.get(expected[0]!))!.backfill_id).to.equal(first.backfill.id);
  });

  it('admits runs in the order given, creates a record once however often it is offered, enqueues what it is told to', async () => {
    const jobs = hours('e1', 2100);
    const offered = [...jobs.slice(0, 1200), jobs[5]!, ...jobs.slice(1200)];
    const statuses = await admitRuns(store, queue, offered, { now: T0, enqueueIf: (s) => s === 'created' });
    expect(statuses.filter((s) => s === 'created')).to.have.length(2100);
    expect(statuses[1200]).to.equal('Scheduled');
    expect(await queued('waiting')).to.deep.equal(jobs.map((j) => j.run_id));
    expect((await store.runs.get(jobs[2099]!.run_id))!.created_at).to.equal(new Date(T0).toISOString());
  });

  it('enqueue calls that are not awaited one by one still reach Redis in call order', async () => {
    const a = hours('a', 1500);
    const b = hours('b', 1500);
    const c = hours('c', 10);
    await Promise.all([
      queue.enqueue(a, { priority: 10 }),
      queue.enqueue(b, { priority: 10 }),
      queue.enqueue(c, { priority: 10 }),
    ]);
    expect(await queued('prioritized')).to.deep.equal([...a, ...b, ...c].map((j) => j.run_id));
  });

  it('one tick over 2,500 due exports creates and enqueues each run once and moves every cursor once', async () => {
    const ids = Array.from({ length: 2500 }, (_, i) => `x${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 500)
      await Promise.all(ids.slice(i, i + 500).map((id) => store.exports.create(exportFor(id), T0, T0 + HOUR)));
    const sut = new Scheduler({ store, queue, logger, settleMs: 0 });

    expect(await sut.tick(T0 + HOUR)).to.deep.equal({ exports: 2500, enqueued: 2500 });
    expect(new Set(await queued('waiting'))).to.deep.equal(new Set(ids.map((id) => runIdFor(id, T0))));
    expect(await store.schedule.cursors(ids)).to.deep.equal(ids.map(() => T0 + HOUR));
    expect(await store.schedule.due(T0 + HOUR, 10)).to.deep.equal([]);
    expect(await scheduledCount()).to.equal(2500);
    expect(await sut.tick(T0 + HOUR)).to.deep.equal({ exports: 0, enqueued: 0 });
  });

  it('compare-and-set of 1,500 cursors moves only those nobody moved meanwhile', async () => {
    const ids = Array.from({ length: 1500 }, (_, i) => `c${i}`);
    for (const id of ids) await store.schedule.set(id, T0, T0 + HOUR);
    await store.schedule.set('c1234', T0 + HOUR, T0 + 2 * HOUR);
    const moves = ids.map((id, i) => ({ id, from: T0, to: T0 + HOUR, dueAt: i === 7 ? null : T0 + 2 * HOUR }));

    const moved = await store.schedule.advance(moves);
    expect(moved.filter((m) => !m)).to.have.length(1);
    expect(moved[1234]).to.equal(false);
    expect(await store.schedule.cursor('c1234')).to.equal(T0 + HOUR);
    expect(await store.schedule.due(T0 + 2 * HOUR, 2000)).to.have.length(1499);
    expect(await store.schedule.due(T0 + 2 * HOUR, 2000)).to.not.include('c7');
    expect(await store.schedule.advance(moves)).to.satisfy((m: boolean[]) => m.every((x) => !x));
  });
});
