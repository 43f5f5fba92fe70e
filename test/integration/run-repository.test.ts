import { expect } from 'chai';
import { MAX_UNFINISHED_ATTEMPTS, Store } from '@bx/store';
import { testEnv, uniqueName } from '../helpers/env';

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
    expect(await sut.runs.start(run.id)).to.deep.equal({
      status: 'started',
      attempt: 1,
      backfillId: null,
      receiptVersion: 1,
    });
    expect(await sut.runs.start(run.id)).to.deep.equal({
      status: 'started',
      attempt: 2,
      backfillId: null,
      receiptVersion: 1,
    });
    expect(await sut.runs.start('e1-missing')).to.deep.equal({ status: 'missing' });
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
});
