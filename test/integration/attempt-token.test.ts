import { expect } from 'chai';
import { runIdFor } from '@bx/core';
import { Store, type AttemptRef, type RunStart } from '@bx/store';
import { testEnv, uniqueName } from '../helpers/env';
import { deleteKeysUnder } from '../helpers/redis-keys';

/**
 * The attempt fence names an attempt by its number and the token its start
 * minted: the number alone repeats (a rewritten record counts from 1 again, a
 * start lost in a failover is counted again), and an attempt whose worker
 * froze and woke must not record its outcome or its state over the run's
 * latest attempt's.
 */
describe('attempt fence: an attempt is its number and its token', () => {
  let sut: Store;
  const T0 = Date.parse('2024-01-01T00:00:00Z');
  const run = { id: runIdFor('e1', T0), export_id: 'e1', data_interval_start: T0, data_interval_end: T0 + 3_600_000 };
  const started = (answer: RunStart): AttemptRef => {
    if (answer.status !== 'started') throw new Error(`not started: ${answer.status}`);
    return { attempt: answer.attempt, token: answer.token };
  };
  const result = (records: number) => ({ records, bytes: 1, files: [`k${records}`] });

  beforeEach(async () => {
    sut = Store.connect(testEnv.REDIS_URL, uniqueName('bxt'));
    await sut.runs.createMany([run], T0);
  });
  afterEach(async () => {
    await deleteKeysUnder(sut.redis, sut.keys.prefix);
    await sut.close();
  });

  it('each start mints a new token of 32 hex digits, kept on the record and never shown in the run', async () => {
    const a = started(await sut.runs.start(run.id));
    const b = started(await sut.runs.start(run.id));
    expect(a.token).to.match(/^[0-9a-f]{32}$/);
    expect(b.token)
      .to.match(/^[0-9a-f]{32}$/)
      .and.not.equal(a.token);
    expect(await sut.redis.hget(sut.keys.run(run.id), 'attempt_token')).to.equal(b.token);
    expect(JSON.stringify(await sut.runs.get(run.id))).not.to.include(b.token);
  });

  it('a record rewritten for a new interval: a late attempt 1 of the old record is refused by attempt 1 of the new', async () => {
    const late = started(await sut.runs.start(run.id));
    // Cancelled while its worker was frozen, then the export's interval changed: the record is rewritten.
    expect(await sut.runs.cancel(run.id)).to.equal(true);
    const rewritten = { ...run, data_interval_end: T0 + 2 * 3_600_000 };
    expect(await sut.runs.createMany([rewritten], T0)).to.deep.equal(['rewritten']);
    const current = started(await sut.runs.start(run.id));
    expect(current.attempt).to.equal(late.attempt);

    // The frozen worker wakes.
    expect(await sut.runs.isLatestAttempt(run.id, late)).to.equal(false);
    expect(await sut.runs.setState(run.id, { uploads: ['late'] }, late)).to.equal('Superseded');
    expect(await sut.runs.complete(run.id, result(5), T0, late)).to.equal('Superseded');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Running', records_completed: 0, attempts: 1 });
    expect(await sut.runs.state(run.id)).to.equal(null);

    expect(await sut.runs.isLatestAttempt(run.id, current)).to.equal(true);
    expect(await sut.runs.complete(run.id, result(7), T0, current)).to.equal('ok');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Completed', records_completed: 7 });
  });

  it('a start lost in a Redis failover hands its number out again: the attempt it started is refused', async () => {
    const before = await sut.redis.hgetall(sut.keys.run(run.id));
    const lost = started(await sut.runs.start(run.id));
    // The replica promoted had not received that start: the record is as it was before it.
    await sut.redis.del(sut.keys.run(run.id));
    await sut.redis.hset(sut.keys.run(run.id), before);
    const current = started(await sut.runs.start(run.id));
    expect(current.attempt).to.equal(lost.attempt);

    expect(await sut.runs.isLatestAttempt(run.id, lost)).to.equal(false);
    expect(await sut.runs.fail(run.id, 'FailedRetryable', 'x', T0, lost)).to.equal('Superseded');
    expect(await sut.runs.isLatestAttempt(run.id, current)).to.equal(true);
    expect(await sut.runs.complete(run.id, result(7), T0, current)).to.equal('ok');
  });

  it("a superseded attempt's state is refused and leaves the later attempt's state as it was", async () => {
    const earlier = started(await sut.runs.start(run.id));
    const later = started(await sut.runs.start(run.id));
    expect(await sut.runs.setState(run.id, { uploads: ['later'] }, later)).to.equal('ok');
    // The earlier attempt's worker wakes and records the upload it opened.
    expect(await sut.runs.setState(run.id, { uploads: ['earlier'] }, earlier)).to.equal('Superseded');
    expect(await sut.runs.state(run.id)).to.deep.equal({ uploads: ['later'] });
    // Not even by a number alone.
    expect(await sut.runs.setState(run.id, { uploads: ['earlier'] }, earlier.attempt)).to.equal('Superseded');
    expect(await sut.runs.state(run.id)).to.deep.equal({ uploads: ['later'] });
    // A run that is gone keeps nothing, and no stray key is left.
    await sut.runs.deleteMany([run.id]);
    expect(await sut.runs.setState(run.id, { uploads: ['later'] }, later)).to.equal('missing');
    expect(await sut.redis.exists(sut.keys.run(run.id))).to.equal(0);
  });

  it('a record started by the previous version (no token) still finishes by its number', async () => {
    const { attempt } = started(await sut.runs.start(run.id));
    await sut.redis.hdel(sut.keys.run(run.id), 'attempt_token');
    expect(await sut.runs.isLatestAttempt(run.id, attempt)).to.equal(true);
    expect(await sut.runs.setState(run.id, { uploads: [] }, attempt)).to.equal('ok');
    expect(await sut.runs.complete(run.id, result(7), T0, attempt)).to.equal('ok');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Completed', records_completed: 7 });
  });

  it("rolling upgrade: a previous version's rewrite and start keep this attempt's token; its start time fences", async () => {
    const answer = await sut.runs.start(run.id, T0 + 1000);
    if (answer.status !== 'started') throw new Error(answer.status);
    const late = { attempt: answer.attempt, token: answer.token, startedMs: answer.startedMs };
    expect(await sut.runs.cancel(run.id)).to.equal(true);
    // The previous version's scheduler rewrites the record for a new interval: its OLD fields
    // (create-runs.lua) do not hold attempt_token. Then its worker starts the run: no token.
    const key = sut.keys.run(run.id);
    await sut.redis.hdel(key, 'records_completed', 'bytes_exported', 'files', 'error', 'started_at', 'started_ms');
    await sut.redis.hdel(key, 'finished_at', 'receipt', 'state', 'attempts', 'crashes', 'backfill_id', 'bf_open');
    await sut.redis.hset(key, 'status', 'Running', 'started_ms', T0 + 5000, 'attempts', 1);
    expect(await sut.redis.hget(key, 'attempt_token')).to.equal(late.token);

    // This version's frozen worker wakes.
    expect(await sut.runs.isLatestAttempt(run.id, late)).to.equal(false);
    expect(await sut.runs.setState(run.id, { uploads: ['late'] }, late)).to.equal('Superseded');
    expect(await sut.runs.complete(run.id, result(5), T0, late)).to.equal('Superseded');
    // The previous version's worker finishes by its number, as its own finish-run.lua checks.
    expect(await sut.runs.complete(run.id, result(7), T0, 1)).to.equal('ok');
    expect(await sut.runs.get(run.id)).to.deep.include({ status: 'Completed', records_completed: 7 });
  });
});
