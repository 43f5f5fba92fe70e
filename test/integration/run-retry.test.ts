import { expect } from 'chai';
import { ConflictError, createLogger, runIdFor } from '@bx/core';
import { BackfillService, RunService } from '@bx/operations';
import { BullMqRunQueue, type RunJob, type RunWorker } from '@bx/queue';
import { Store } from '@bx/store';
import { randomUUID } from 'node:crypto';
import { QueueInspector } from '../helpers/queue-inspector';
import { testEnv, uniqueName } from '../helpers/env';
import { dropStoreAndQueue } from '../helpers/redis-prefix';
import { exportFixture } from '../helpers/export-fixture';

const HOUR = 3_600_000;
const E1 = randomUUID();
const T0 = Date.parse('2020-01-01T00:00:00Z');
const logger = createLogger({}, 'error');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A worker writes a run's final status one or two Redis round trips before
 * BullMQ moves its job out of `active`. A manual retry or a forced backfill in
 * that moment used to be refused (RunActive) after the run record had already
 * been set back to Scheduled: a run that said Scheduled with no job to run it.
 */
describe('retrying a run its worker has only just finished', function () {
  this.timeout(30_000);
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let worker: RunWorker | undefined;
  let bullmq: QueueInspector;
  const job: RunJob = {
    run_id: runIdFor(E1, T0),
    export_id: E1,
    data_interval_start: T0,
    data_interval_end: T0 + HOUR,
  };

  /**
   * A worker whose first attempt records the run Completed, then holds the job
   * until `release` resolves (the moment between the two); later attempts
   * complete at once. Resolves when the first attempt has written Completed.
   */
  const finishButHold = async (release: Promise<unknown>): Promise<number[]> => {
    const attempts: number[] = [];
    let written!: () => void;
    let broken!: (err: unknown) => void;
    const completed = new Promise<void>((resolve, reject) => ((written = resolve), (broken = reject)));
    worker = queue.startWorker(
      async (run) => {
        const start = await store.runs.start(run.run_id);
        if (start.status !== 'started') {
          broken(new Error(`run did not start: ${start.status}`));
          return { status: 'skipped', reason: start.status };
        }
        attempts.push(start.attempt);
        await store.runs.complete(run.run_id, { records: 1, bytes: 1, files: [] }, Date.now(), start.attempt);
        if (start.attempt === 1) {
          written();
          await release;
        }
        return { status: 'completed', records: 1, bytes: 1, files: [] };
      },
      { concurrency: 2, logger },
    );
    await store.exports.create(exportFixture(E1, T0), T0 + HOUR, null);
    await store.runs.createMany([
      { id: job.run_id, export_id: E1, data_interval_start: T0, data_interval_end: T0 + HOUR },
    ]);
    await queue.enqueue([job]);
    await completed;
    expect(await bullmq.runs.getJobState(job.run_id)).to.equal('active');
    return attempts;
  };
  const eventuallyCompletedTwice = async (attempts: number[]) => {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const run = await store.runs.get(job.run_id);
      if (attempts.length === 2 && run?.status === 'Completed') return run;
      await sleep(20);
    }
    throw new Error(`the retry did not run: attempts ${JSON.stringify(attempts)}`);
  };

  beforeEach(() => {
    prefix = uniqueName('bxr');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 1, backoffMs: 10 });
    bullmq = new QueueInspector(prefix);
  });
  afterEach(async () => {
    await worker?.close(1000);
    worker = undefined;
    await bullmq.close();
    await dropStoreAndQueue(store, queue, prefix);
  });

  it('a manual retry waits for the job to leave active, then runs the interval again', async () => {
    let release!: () => void;
    const attempts = await finishButHold(new Promise<void>((r) => (release = r)));
    let answered = false;
    const retrying = new RunService(store, queue, logger).retry(E1, job.run_id).finally(() => (answered = true));
    // While the worker holds the job the retry waits, the run record as it was; released, it goes on.
    // (The hold ends when the test says, not after a fixed time that a slow start may have used up.)
    await sleep(300);
    expect(answered, 'the retry answered while the job was still active').to.equal(false);
    expect((await store.runs.get(job.run_id))!.status).to.equal('Completed');
    release();
    const retried = await retrying;
    expect(retried.status).to.equal('Scheduled');
    const run = await eventuallyCompletedTwice(attempts);
    expect(attempts).to.deep.equal([1, 2]);
    expect(run.attempts).to.equal(2);
  });

  it('a forced backfill in that moment leaves the run be, and queues it again at its next step', async () => {
    let release!: () => void;
    const attempts = await finishButHold(new Promise<void>((r) => (release = r)));
    const sut = new BackfillService(store, queue, logger, () => T0 + 2 * HOUR);
    const created = await sut.create(E1, {
      start_at: new Date(T0).toISOString(),
      end_at: new Date(T0 + HOUR).toISOString(),
      force: true,
    });
    if (!('backfill' in created)) throw new Error('not created');
    expect(created.backfill).to.deep.include({ status: 'Running', skipped_runs: 0, finished_runs: 0 });
    expect((await store.runs.get(job.run_id))!.status).to.equal('Completed');
    release();
    expect(await queue.settled(job.run_id)).to.equal(true);
    await sut.pump.pass();
    await eventuallyCompletedTwice(attempts);
    expect(attempts).to.deep.equal([1, 2]);
    const deadline = Date.now() + 5000;
    while ((await sut.get(E1, created.backfill.id)).status === 'Running' && Date.now() < deadline) await sleep(20);
    expect(await sut.get(E1, created.backfill.id)).to.deep.include({
      status: 'Completed',
      finished_runs: 1,
      skipped_runs: 0,
      records_completed: 1,
    });
  });

  it('a worker that holds the job past the wait gets a 409, and the run record is left as it was', async () => {
    let release!: () => void;
    await finishButHold(new Promise<void>((r) => (release = r)));
    try {
      const err = await new RunService(store, queue, logger).retry(E1, job.run_id).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ConflictError);
      expect((err as Error).message).to.contain('a worker still holds it');
      expect((await store.runs.get(job.run_id))!.status).to.equal('Completed');
    } finally {
      release();
    }
  });
});
