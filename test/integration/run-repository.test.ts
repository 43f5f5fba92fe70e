import { expect } from 'chai';
import { runIdFor } from '@bx/core';
import { MAX_UNFINISHED_ATTEMPTS, MIN_UNFINISHED_ATTEMPTS, Store, type RunStart } from '@bx/store';
import { testEnv, uniqueName } from '../helpers/env';
import { exportFixture } from '../helpers/export-fixture';
import { deleteKeysUnder } from '../helpers/redis-keys';

describe('run records: attempts of one run', () => {
  let sut: Store;
  const run = { id: 'e1-20240101T000000Z', export_id: 'e1', data_interval_start: 0, data_interval_end: 3_600_000 };

  beforeEach(async () => {
    sut = Store.connect(testEnv.REDIS_URL, uniqueName('bxr'));
    await sut.runs.createMany([run]);
  });
  afterEach(async () => {
    await sut.runs.deleteMany([run.id]);
    await sut.redis.del(sut.keys.failures('e1'), sut.keys.exportTotals, sut.keys.runDurations, sut.keys.runsByStatus);
    await sut.close();
  });

  it('numbers each attempt it starts', async () => {
    // Each with a token of its own (attempt-token.test.ts).
    const withoutToken = (started: RunStart) => {
      const { token, startedMs, ...answer } = started as { token?: string; startedMs?: number };
      expect(token).to.be.a('string');
      expect(startedMs).to.be.a('number');
      return answer;
    };
    expect(withoutToken(await sut.runs.start(run.id))).to.deep.equal({
      status: 'started',
      attempt: 1,
      backfillId: null,
      receiptVersion: 1,
    });
    expect(withoutToken(await sut.runs.start(run.id))).to.deep.equal({
      status: 'started',
      attempt: 2,
      backfillId: null,
      receiptVersion: 1,
    });
    expect(await sut.runs.start('e1-missing')).to.deep.equal({ status: 'missing' });
  });

  it("a run Failed for good is not started again: start answers 'Failed' with its error, nothing changed", async () => {
    const { attempt } = (await sut.runs.start(run.id)) as { attempt: number };
    expect(await sut.runs.fail(run.id, 'Failed', 'NoSuchBucket', Date.now(), attempt)).to.equal('ok');
    // A job of it that came back (its worker died before the queue heard of the failure).
    expect(await sut.runs.start(run.id)).to.deep.equal({ status: 'Failed', error: 'NoSuchBucket' });
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Failed', attempts: 1, error: 'NoSuchBucket' });
    // A retry sets it back to Scheduled first: then it starts.
    expect(await sut.runs.reschedule(run.id)).to.equal(true);
    expect(await sut.runs.start(run.id)).to.deep.include({ status: 'started', attempt: 2 });
  });

  it('an attempt taken over by a later one (its worker lost the lock) cannot overwrite the run', async () => {
    const stale = await sut.runs.start(run.id);
    const current = await sut.runs.start(run.id);
    const attempt = (s: typeof stale) => (s.status === 'started' ? s.attempt : -1);

    expect(await sut.runs.fail(run.id, 'FailedRetryable', 'NoSuchUpload', Date.now(), attempt(stale))).to.equal(
      'Superseded',
    );
    expect(await sut.runs.complete(run.id, { records: 5, bytes: 1, files: [] }, Date.now(), attempt(stale))).to.equal(
      'Superseded',
    );
    expect((await sut.runs.get(run.id))!.status).to.equal('Running');
    expect(
      await sut.runs.complete(run.id, { records: 7, bytes: 2, files: ['k'] }, Date.now(), attempt(current)),
    ).to.equal('ok');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Completed', records_completed: 7, attempts: 2 });
  });

  it('an attempt that reports back after the later one completed the run is told it was superseded', async () => {
    const stale = (await sut.runs.start(run.id)) as { attempt: number };
    const current = (await sut.runs.start(run.id)) as { attempt: number };
    const done = { records: 7, bytes: 2, files: ['k'] };
    expect(await sut.runs.complete(run.id, done, Date.now(), current.attempt)).to.equal('ok');
    // Its worker was frozen (SIGSTOP) past its lock, woke, and failed for good (or on its last try).
    expect(await sut.runs.fail(run.id, 'Failed', 'NoSuchUpload', Date.now(), stale.attempt)).to.equal('Superseded');
    expect(await sut.runs.complete(run.id, { ...done, records: 5 }, Date.now(), stale.attempt)).to.equal('Superseded');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Completed', records_completed: 7, attempts: 2 });
    // Without an attempt (a crashed run failed by its next start) the status still decides.
    expect(await sut.runs.fail(run.id, 'Failed', 'x', Date.now())).to.equal('Completed');
  });

  it("keeps the attempt's log lines with the outcome it records, and only then", async () => {
    const line = (message: string) => ({ timestamp: '2024-01-01T00:00:00.000Z', level: 'info', message });
    const stale = await sut.runs.start(run.id);
    const current = await sut.runs.start(run.id);
    const attempt = (s: typeof stale) => (s.status === 'started' ? s.attempt : -1);
    await sut.runLogs.append(run.id, [line('first')]);
    const result = { records: 1, bytes: 1, files: [] };
    expect(await sut.runs.complete(run.id, result, Date.now(), attempt(stale), null, [line('stale')])).to.equal(
      'Superseded',
    );
    expect(
      await sut.runs.complete(run.id, result, Date.now(), attempt(current), null, [line('started'), line('done')]),
    ).to.equal('ok');
    expect((await sut.runLogs.list(run.id)).map((l) => l.message)).to.deep.equal(['first', 'started', 'done']);
    expect(await sut.runs.fail(run.id, 'Failed', 'late', Date.now(), undefined, null, [line('late')])).to.equal(
      'Completed',
    );
    expect(await sut.runLogs.list(run.id)).to.have.length(3);
  });

  it('a completed run ends its export’s streak of failed runs; a failed one does not', async () => {
    await sut.exports.recordFailure('e1');
    await sut.runs.start(run.id);
    await sut.runs.fail(run.id, 'FailedRetryable', 'SlowDown');
    expect(await sut.exports.recordFailure('e1')).to.equal(2);
    await sut.runs.start(run.id);
    expect(await sut.runs.complete(run.id, { records: 1, bytes: 1, files: [] })).to.equal('ok');
    expect(await sut.exports.recordFailure('e1')).to.equal(1);
  });

  it(`after ${MAX_UNFINISHED_ATTEMPTS} attempts in a row that never finished, start answers 'crashed'`, async () => {
    // An attempt that finishes resets the count: only unfinished ones in a row count.
    const first = await sut.runs.start(run.id);
    expect(first.status).to.equal('started');
    await sut.runs.fail(run.id, 'FailedRetryable', 'timeout', Date.now());
    for (let i = 1; i <= MAX_UNFINISHED_ATTEMPTS; i++) {
      expect(await sut.runs.start(run.id)).to.deep.include({ status: 'started', attempt: i + 1 });
    }
    // Each start above found the previous attempt still Running (its worker died).
    expect(await sut.runs.start(run.id)).to.deep.equal({
      status: 'crashed',
      crashes: MAX_UNFINISHED_ATTEMPTS,
      backfillId: null,
    });
    expect(await sut.runs.fail(run.id, 'Failed', 'crashed', Date.now())).to.equal('ok');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Failed', attempts: MAX_UNFINISHED_ATTEMPTS + 1 });
  });

  it('an attempt that lost its lock and reports back later was no crash: lock losses never fail the run', async () => {
    // Seen in the chaos suite on a loaded machine: workers alive but too slow to renew their
    // locks, every takeover counted as a crash, and a run that never crashed Failed for good.
    let previous = (await sut.runs.start(run.id)) as { attempt: number };
    for (let i = 0; i < 2 * MAX_UNFINISHED_ATTEMPTS; i++) {
      const next = await sut.runs.start(run.id); // another worker takes the run over
      expect(next).to.deep.include({ status: 'started', attempt: previous.attempt + 1 });
      // The worker that lost the lock finishes its attempt, too late.
      expect(await sut.runs.fail(run.id, 'FailedRetryable', 'x', Date.now(), previous.attempt)).to.equal('Superseded');
      previous = next as { attempt: number };
    }
    // Real crashes (attempts that never report back) still count.
    for (let i = 1; i < MAX_UNFINISHED_ATTEMPTS; i++) expect((await sut.runs.start(run.id)).status).to.equal('started');
    expect((await sut.runs.start(run.id)).status).to.equal('crashed');
  });
});

describe("a worker's start: the run and its export in one script", () => {
  let sut: Store;
  const T0 = Date.parse('2024-01-01T00:00:00Z');
  const exp = exportFixture('e1', T0);
  const run = { id: runIdFor('e1', T0), export_id: 'e1', data_interval_start: T0, data_interval_end: T0 + 3_600_000 };

  beforeEach(async () => {
    sut = Store.connect(testEnv.REDIS_URL, uniqueName('bxr'));
    await sut.runs.createMany([run]);
  });
  afterEach(async () => {
    await deleteKeysUnder(sut.redis, sut.keys.prefix);
    await sut.close();
  });

  it('answers the stored export with the attempt it started', async () => {
    await sut.exports.create(exp, T0, null);
    const { token, ...started } = (await sut.runs.startWithExport(run.id, T0 + 1)) as { token: string };
    expect(token).to.match(/^[0-9a-f]{32}$/);
    expect(started).to.deep.equal({
      status: 'started',
      attempt: 1,
      startedMs: T0 + 1,
      backfillId: null,
      receiptVersion: 1,
      export: exp,
    });
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Running', attempts: 1 });
  });

  it("answers 'no-export' when the export is gone, and leaves the run as it was", async () => {
    expect(await sut.runs.startWithExport(run.id)).to.deep.equal({ status: 'no-export' });
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Scheduled', attempts: 0 });
    expect(await sut.redis.hget(sut.keys.runsByStatus, 'Running')).to.equal(null);
  });

  it(`with RUN_MAX_ATTEMPTS 1, still ${MIN_UNFINISHED_ATTEMPTS} unfinished attempts before 'crashed' (a stalled lock is no crash)`, async () => {
    await sut.exports.create(exp, T0, null);
    // Each start after the first finds the one before still Running: killed, or only stalled past its lock.
    for (let i = 1; i <= MIN_UNFINISHED_ATTEMPTS; i++) {
      expect(await sut.runs.startWithExport(run.id, T0 + i, 1)).to.deep.include({ status: 'started', attempt: i });
    }
    expect(await sut.runs.startWithExport(run.id, T0 + 10, 1)).to.deep.include({ status: 'crashed' });
  });

  it("answers why not without the export: held while paused, the run's final status", async () => {
    await sut.exports.create({ ...exp, paused: true }, T0, null);
    expect(await sut.runs.startWithExport(run.id)).to.deep.equal({ status: 'held' });
    await sut.exports.modify(exp.id, () => exp);
    await sut.runs.cancel(run.id);
    expect(await sut.runs.startWithExport(run.id)).to.deep.equal({ status: 'Cancelled' });
  });
});

describe('run status indexes: every transition keeps them equal to the statuses', () => {
  let sut: Store;
  const T0 = Date.parse('2024-01-01T00:00:00Z');
  const run = { id: runIdFor('e1', T0), export_id: 'e1', data_interval_start: T0, data_interval_end: T0 + 3_600_000 };
  const UNFINISHED = ['Scheduled', 'Running', 'FailedRetryable'];
  const FINAL = ['Completed', 'Failed', 'Cancelled'];

  beforeEach(() => {
    sut = Store.connect(testEnv.REDIS_URL, uniqueName('bxr'));
  });
  afterEach(async () => {
    await deleteKeysUnder(sut.redis, sut.keys.prefix);
    await sut.close();
  });

  /** The run's status, and where the indexes and counters have it. */
  async function where() {
    const [status, pending, unfinished, finished, byStatus] = await Promise.all([
      sut.runs.get(run.id).then((r) => r?.status ?? null),
      sut.redis.zscore(sut.keys.pendingRuns('e1'), run.id),
      sut.redis.zscore(sut.keys.unfinishedRuns('e1'), run.id),
      sut.redis.zscore(sut.keys.finishedRuns, run.id),
      sut.redis.hgetall(sut.keys.runsByStatus),
    ]);
    const counted = Object.entries(byStatus).filter(([, n]) => n !== '0');
    return { status, pending, unfinished, finished, counted };
  }

  async function expectIndexed(status: string, finishedAt?: number) {
    expect(await where()).to.deep.equal({
      status,
      pending: status === 'Completed' || status === 'Cancelled' ? null : String(run.data_interval_end),
      unfinished: UNFINISHED.includes(status) ? String(run.data_interval_start) : null,
      finished: FINAL.includes(status) ? String(finishedAt) : null,
      counted: [[status, '1']],
    });
  }

  it('through starts, a retry, a crashed attempt, completion, a manual retry, failure, cancellation and deletion', async () => {
    await sut.runs.createMany([run]);
    await expectIndexed('Scheduled');
    await sut.runs.start(run.id, 1000);
    await expectIndexed('Running');
    expect(await sut.runs.fail(run.id, 'FailedRetryable', 'timeout', 2000)).to.equal('ok');
    await expectIndexed('FailedRetryable');
    await sut.runs.start(run.id, 3000);
    // A second start over a Running run: its worker died.
    expect(await sut.runs.start(run.id, 4000)).to.deep.include({ status: 'started', attempt: 3 });
    await expectIndexed('Running');
    expect(await sut.runs.complete(run.id, { records: 0, bytes: 0, files: [] }, 5000)).to.equal('ok');
    await expectIndexed('Completed', 5000);
    expect(await sut.runs.reschedule(run.id, 6000)).to.equal(true);
    await expectIndexed('Scheduled');
    await sut.runs.start(run.id, 7000);
    expect(await sut.runs.fail(run.id, 'Failed', 'denied', 8000)).to.equal('ok');
    await expectIndexed('Failed', 8000);
    expect(await sut.runs.reschedule(run.id, 9000)).to.equal(true);
    expect(await sut.runs.cancel(run.id, 10_000)).to.equal(true);
    await expectIndexed('Cancelled', 10_000);
    expect(await sut.runs.deleteMany([run.id])).to.equal(1);
    expect(await where()).to.deep.equal({
      status: null,
      pending: null,
      unfinished: null,
      finished: null,
      counted: [],
    });
  });
});
