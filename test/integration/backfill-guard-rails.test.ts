import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runIdFor, type Run } from '@bx/core';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { eventually } from '../helpers/processes';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const PER_HOUR = 2;
const base = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Backfills a new user can plan, pause and cancel (issue: the first hour),
 * on runs created a window ahead of the workers (issue: trust boundary),
 * through the HTTP API with a real worker, Redis, ClickHouse and S3 server.
 */
describe('backfill guard rails: dry run, confirm, cancel, pause, honest progress', function () {
  this.timeout(120_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let bucket: string;
  let sys: InProcessSystem;

  before(async () => {
    ch = await new TestClickHouse().setup();
    const events = [];
    for (let h = 0; h < 24; h++)
      for (let i = 0; i < PER_HOUR; i++)
        events.push(makeEvent({ inserted_at: chTime(iso(base + h * HOUR + i * 60_000)) }));
    await ch.insert(events);
    s3 = testS3Client();
  });
  after(async () => ch.drop());
  beforeEach(async () => {
    bucket = await createBucket(s3);
    sys = await new InProcessSystem(ch.database).start();
  });
  afterEach(async () => sys.stop());

  const createExport = async (overrides: Record<string, unknown> = {}): Promise<string> => {
    const res = await sys.call('POST', '/api/exports', {
      name: 'guarded',
      team_id: 1,
      interval: 'hour',
      end_at: iso(base + 24 * HOUR), // not scheduled: backfills are its only runs
      destination: {
        type: 'S3',
        config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
      ...overrides,
    });
    expect(res.status, JSON.stringify(res.json)).to.equal(201);
    return res.json.id as string;
  };
  const post = (path: string, body?: unknown) => sys.call('POST', path, body);
  const backfillOf = async (id: string, bid: string) =>
    (await sys.call('GET', `/api/exports/${id}/backfills/${bid}`)).json;
  const runsOf = async (id: string): Promise<Run[]> =>
    (await sys.call('GET', `/api/exports/${id}/runs?limit=1000`)).json.results;
  const finished = (id: string, bid: string) =>
    eventually(
      async () => {
        const b = await backfillOf(id, bid);
        return b.status === 'Running' ? undefined : b;
      },
      60_000,
      'the backfill to finish',
    );

  it('a dry run counts intervals and those exported before, and creates nothing', async () => {
    const id = await createExport();
    const range = { start_at: iso(base), end_at: iso(base + 6 * HOUR) };
    // Every key but BullMQ's queue metadata (written when a queue is first used).
    const keys = async () => (await sys.store.redis.keys(`${sys.prefix}:*`)).filter((k) => !k.endsWith(':meta')).sort();
    const keysBefore = await keys();
    const plan = await post(`/api/exports/${id}/backfills`, { ...range, dry_run: true });
    expect(plan.status).to.equal(200);
    expect(plan.json).to.deep.equal({ ...range, total_runs: 6, to_export: 6, already_exported: 0, in_progress: 0 });
    expect(await keys()).to.deep.equal(keysBefore);

    sys.startWorker(2);
    const first = await post(`/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + 2 * HOUR) });
    await finished(id, first.json.id);
    expect((await post(`/api/exports/${id}/backfills`, { ...range, dry_run: true })).json).to.deep.equal({
      ...range,
      total_runs: 6,
      to_export: 4,
      already_exported: 2,
      in_progress: 0,
    });
    expect((await post(`/api/exports/${id}/backfills`, { ...range, dry_run: true, force: true })).json).to.include({
      to_export: 6,
    });
  });

  it('more than 1,000 intervals need confirm: true; the refusal names the count', async () => {
    const id = await createExport({ interval: 'every 5 minutes' });
    const small = { start_at: iso(base), end_at: iso(base + 24 * HOUR) }; // 288 intervals: no confirm needed
    expect((await post(`/api/exports/${id}/backfills`, { ...small, dry_run: true })).json.total_runs).to.equal(288);
    const big = { start_at: iso(base - 96 * HOUR), end_at: iso(base + 24 * HOUR) }; // 1,440 intervals
    const refused = await post(`/api/exports/${id}/backfills`, big);
    expect(refused.status).to.equal(400);
    expect(refused.json.error.code).to.equal('confirmation_required');
    expect(refused.json.error.message).to.contain('1440 intervals');
    expect(refused.json.error.details[0].field).to.equal('confirm');
    expect(await sys.store.backfills.active(10)).to.deep.equal([]);
    const confirmed = await post(`/api/exports/${id}/backfills`, { ...big, confirm: true });
    expect(confirmed.status).to.equal(201);
    expect(confirmed.json).to.deep.include({ total_runs: 1440, status: 'Running' });
    // Runs exist only a window ahead: nothing like 1,440 records.
    expect((await runsOf(id)).length).to.be.at.most(500);
  });

  it('planning 200,000 intervals does not hold the event loop (the API, and the worker of npm start)', async () => {
    // Five minutes in a zone other than UTC: luxon's offsets made the count alone ~3 s of CPU at once.
    const id = await createExport({ interval: 'every 5 minutes', timezone: 'America/New_York', paused: true });
    const range = { start_at: '2020-01-01T00:00:00Z', end_at: '2021-11-24T00:00:00Z' }; // 199,584 intervals
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const began = process.hrtime.bigint();
    const plan = await post(`/api/exports/${id}/backfills`, { ...range, dry_run: true });
    const took = Number(process.hrtime.bigint() - began);
    delay.disable();
    const refused = await post(`/api/exports/${id}/backfills`, { ...range, end_at: '2021-12-01T00:00:00Z' });
    expect(plan.json).to.deep.equal({
      start_at: '2020-01-01T00:00:00.000Z',
      end_at: '2021-11-24T00:00:00.000Z',
      total_runs: 199_584,
      to_export: 199_584,
      already_exported: 0,
      in_progress: 0,
    });
    expect(refused.json.error.message).to.contain('more than 200000 intervals');
    // A share of the request's own time, not a wall-clock bound: counting at once held the loop
    // for nearly all of it (2.8-4 s of 3-4.5 s); in slices the longest hold is a few percent.
    expect(delay.max / took, 'longest hold of the event loop / time of the request').to.be.below(0.25);
  });

  it('cancel: intervals not started never start, queued runs become Cancelled; the backfill says so', async () => {
    const id = await createExport();
    const created = await post(`/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + 6 * HOUR) });
    expect(created.status).to.equal(201);
    const cancelled = await post(`/api/exports/${id}/backfills/${created.json.id}/cancel`);
    expect(cancelled.status).to.equal(200);
    expect(cancelled.json).to.deep.include({
      status: 'Cancelled',
      total_runs: 6,
      finished_runs: 6,
      cancelled_runs: 6,
      failed_runs: 0,
      records_completed: 0,
      progress: 1,
    });
    expect(cancelled.json.finished_at).to.be.a('string');
    sys.startWorker(2);
    const runs = await runsOf(id);
    expect(runs.map((r) => r.status)).to.deep.equal(runs.map(() => 'Cancelled'));
    expect((await post(`/api/exports/${id}/backfills/${created.json.id}/cancel`)).status).to.equal(200);
    expect(await listKeys(s3, bucket)).to.deep.equal([]);
    // A backfill that is done cannot be cancelled.
    const done = await post(`/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + HOUR) });
    await finished(id, done.json.id);
    expect((await post(`/api/exports/${id}/backfills/${done.json.id}/cancel`)).status).to.equal(409);
  });

  it('pausing holds every run that has not started, backfill and scheduled alike, until unpause', async () => {
    // Bounded, so the count does not depend on the wall clock passing an hour
    // while the suite runs: four scheduled runs, base+20h to base+24h.
    const id = await createExport({ start_at: iso(base + 20 * HOUR) });
    await sys.scheduler.tick();
    const bf = await post(`/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + 4 * HOUR) });
    expect((await post(`/api/exports/${id}/pause`)).json.paused).to.equal(true);
    sys.startWorker(2);
    // A run whose job a worker picks while paused is held: it stays Scheduled, with no attempt.
    const runId = runIdFor(id, base + 20 * HOUR);
    await sys.queue.enqueue([
      { run_id: runId, export_id: id, data_interval_start: base + 20 * HOUR, data_interval_end: base + 21 * HOUR },
    ]);
    await eventually(
      async () => ((await sys.bullmq.runs.getJob(runId))?.finishedOn ? true : undefined),
      20_000,
      'the held job',
    );
    const held = await runsOf(id);
    expect(held).to.have.length(8);
    expect(held.map((r) => [r.status, r.attempts])).to.deep.equal(held.map(() => ['Scheduled', 0]));
    expect(await backfillOf(id, bf.json.id)).to.deep.include({ status: 'Running', finished_runs: 0 });

    expect((await post(`/api/exports/${id}/unpause`)).json.paused).to.equal(false);
    expect(await finished(id, bf.json.id)).to.deep.include({ status: 'Completed', finished_runs: 4 });
    await eventually(
      async () => ((await runsOf(id)).every((r) => r.status === 'Completed') ? true : undefined),
      30_000,
      'every run to complete',
    );
    expect((await runsOf(id)).map((r) => r.attempts)).to.deep.equal([1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it("progress covers this backfill's own attempts: a forced one starts at zero rows", async () => {
    const id = await createExport();
    sys.startWorker(2);
    const first = await post(`/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + 3 * HOUR) });
    expect(await finished(id, first.json.id)).to.deep.include({ records_completed: 3 * PER_HOUR });
    await sys.worker!.close(1000);
    const forced = await post(`/api/exports/${id}/backfills`, {
      start_at: iso(base),
      end_at: iso(base + 3 * HOUR),
      force: true,
    });
    expect(forced.json).to.deep.include({ finished_runs: 0, records_completed: 0, progress: 0, skipped_runs: 0 });
    sys.startWorker(2);
    expect(await finished(id, forced.json.id)).to.deep.include({
      status: 'Completed',
      finished_runs: 3,
      records_completed: 3 * PER_HOUR,
    });
    const runs = await runsOf(id);
    expect(runs.map((r) => r.attempts)).to.deep.equal([2, 2, 2]);
  });

  it('the logs of a run: what the worker logged about it, oldest first', async () => {
    const id = await createExport();
    sys.startWorker(1);
    const bf = await post(`/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + HOUR) });
    await finished(id, bf.json.id);
    const runId = runIdFor(id, base);
    const logs = await sys.call('GET', `/api/exports/${id}/runs/${runId}/logs`);
    expect(logs.status).to.equal(200);
    const messages = logs.json.results.map((l: { message: string }) => l.message);
    expect(messages[0]).to.match(/^run started data_interval_start=/);
    expect(messages.at(-1)).to.match(new RegExp(`^run completed records=${PER_HOUR} bytes=\\d+ files=1`));
    expect(logs.json.results[0]).to.have.keys(['timestamp', 'level', 'message']);
    // Bull Board's view: the same lines in the job's log (one entry per write).
    const jobLog = (await sys.bullmq.runs.getJobLogs(runId)).logs.join('\n');
    expect(jobLog).to.match(/ info run started data_interval_start=/);
    expect(jobLog).to.match(/ info run completed records=/);
    expect((await sys.call('GET', `/api/exports/${id}/runs/${runId}x/logs`)).status).to.equal(404);
  });
});
