import { expect } from 'chai';
import { runIdFor } from '@bx/core';
import { ApiHarness } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';

/**
 * An upgrade with work in flight (docs/operations.md, "Upgrade"): the new
 * version reads what the previous one (b395ab1) left in Redis. These records
 * are written here as that version wrote them: an export whose stored config
 * this version's validation refuses, a run its worker was killed in the
 * middle of (no attempt_token: that version's starts kept none), an attempt
 * of this version that a start of the previous one took over.
 */
describe('upgrade: records the previous version left in Redis', function () {
  this.timeout(30_000);
  let sut: ApiHarness;

  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(() => sut.close());

  /** An S3 export as the previous version stored it, with `config` over a valid one. */
  async function storedByPrevious(config: Record<string, unknown>): Promise<string> {
    const res = await sut.createExport(
      { type: 'S3', config: { bucket_name: 'bx-upgrade', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS } },
      'from-previous',
    );
    expect(res.status, res.text).to.equal(201);
    const id = res.json.id as string;
    // The previous version took any positive max_file_size_mb up to 1,000,000 (this one 1 to 64,000).
    const key = sut.store.keys.export(id);
    const stored = JSON.parse((await sut.store.redis.get(key))!);
    Object.assign(stored.destination.config, config);
    await sut.store.redis.set(key, JSON.stringify(stored));
    return id;
  }

  it('an S3 max_file_size_mb the previous version took: shown, and kept by a PATCH that does not send it', async () => {
    for (const size of [0.05, 500_000]) {
      const id = await storedByPrevious({ max_file_size_mb: size });
      const shown = await sut.call('GET', `/api/exports/${id}`);
      expect(shown.status, shown.text).to.equal(200);
      expect(shown.json.destination.config.max_file_size_mb).to.equal(size);
      const renamed = await sut.call('PATCH', `/api/exports/${id}`, { body: { name: 'renamed' } });
      expect(renamed.status, renamed.text).to.equal(200);

      // A change of the prefix alone: the stored value, which the caller never sent, stays.
      const moved = await sut.call('PATCH', `/api/exports/${id}`, {
        body: { destination: { config: { prefix: 'next/{year}' } } },
      });
      expect(moved.status, moved.text).to.equal(200);
      expect(moved.json.destination.config).to.deep.include({ prefix: 'next/{year}', max_file_size_mb: size });

      // A value the PATCH itself sends is checked.
      const sent = await sut.call('PATCH', `/api/exports/${id}`, {
        body: { destination: { config: { max_file_size_mb: 0.5 } } },
      });
      expect(sent.status, sent.text).to.equal(400);
      expect(sent.json.error.details[0].field).to.equal('destination.config.max_file_size_mb');

      const fixed = await sut.call('PATCH', `/api/exports/${id}`, {
        body: { destination: { config: { max_file_size_mb: 1 } } },
      });
      expect(fixed.status, fixed.text).to.equal(200);
      expect(fixed.json.destination.config).to.deep.include({ prefix: 'next/{year}', max_file_size_mb: 1 });
    }
  });

  it("a run the previous version's worker was killed in: taken over, completed, and shown", async () => {
    const id = await storedByPrevious({});
    const start = Date.parse('2024-03-01T10:00:00Z');
    const runId = runIdFor(id, start);
    await sut.store.runs.createMany(
      [{ id: runId, export_id: id, data_interval_start: start, data_interval_end: start + 3_600_000 }],
      start,
    );
    // The previous version's start: Running, attempts 1, no attempt_token; then its worker got SIGKILL.
    await sut.store.redis.hset(sut.store.keys.run(runId), {
      status: 'Running',
      attempts: '1',
      started_at: new Date(start + 3_600_000).toISOString(),
      started_ms: String(start + 3_600_000),
    });
    const shown = await sut.call('GET', `/api/exports/${id}/runs/${runId}`);
    expect(shown.status, shown.text).to.equal(200);
    expect(shown.json).to.deep.include({ status: 'Running', attempts: 1 });

    await sut.call('POST', `/api/exports/${id}/unpause`);
    const taken = await sut.store.runs.start(runId);
    if (taken.status !== 'started') throw new Error(`not started: ${taken.status}`);
    expect(taken.attempt).to.equal(2);
    // The killed attempt's worker is gone; had it come back it would be fenced by its number.
    expect(await sut.store.runs.isLatestAttempt(runId, 1)).to.equal(false);
    const result = { records: 3, bytes: 10, files: ['k'] };
    expect(await sut.store.runs.complete(runId, result, Date.now(), { attempt: 2, token: taken.token })).to.equal('ok');
    const done = await sut.call('GET', `/api/exports/${id}/runs/${runId}`);
    expect(done.status, done.text).to.equal(200);
    expect(done.json).to.deep.include({ status: 'Completed', attempts: 2, records_completed: 3 });
    expect(done.text).not.to.contain(taken.token);
  });
  it("rolling: a previous-version worker's start leaves the token; the later attempt fences by number", async () => {
    const id = await storedByPrevious({});
    await sut.call('POST', `/api/exports/${id}/unpause`);
    const start = Date.parse('2024-03-02T10:00:00Z');
    const runId = runIdFor(id, start);
    await sut.store.runs.createMany(
      [{ id: runId, export_id: id, data_interval_start: start, data_interval_end: start + 3_600_000 }],
      start,
    );
    const ours = await sut.store.runs.start(runId);
    if (ours.status !== 'started') throw new Error(`not started: ${ours.status}`);
    // This version's worker froze; a previous-version worker took the stalled job over. Its
    // start-run.lua counts the attempt and keeps no token: this attempt's token stays on the record.
    await sut.store.redis.hincrby(sut.store.keys.run(runId), 'attempts', 1);
    expect(await sut.store.redis.hget(sut.store.keys.run(runId), 'attempt_token')).to.equal(ours.token);

    const late = { attempt: ours.attempt, token: ours.token };
    expect(await sut.store.runs.isLatestAttempt(runId, late)).to.equal(false);
    expect(await sut.store.runs.setState(runId, { uploads: ['late'] }, late)).to.equal('Superseded');
    expect(await sut.store.runs.complete(runId, { records: 9, bytes: 1, files: [] }, Date.now(), late)).to.equal(
      'Superseded',
    );
    // The previous version's worker completes by its number alone, as its own finish-run.lua checks.
    expect(await sut.store.runs.complete(runId, { records: 4, bytes: 1, files: [] }, Date.now(), 2)).to.equal('ok');
    const done = await sut.call('GET', `/api/exports/${id}/runs/${runId}`);
    expect(done.json).to.deep.include({ status: 'Completed', attempts: 2, records_completed: 4 });
  });
});
