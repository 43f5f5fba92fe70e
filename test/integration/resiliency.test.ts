import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import { runIdFor, type BatchExport, type Run } from '@bx/core';
import { FailurePolicy } from '@bx/operations';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { eventually } from '../helpers/processes';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const base = Math.floor(Date.now() / HOUR) * HOUR - 12 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

describe('resiliency: dead-letter queue, retries, auto-pause', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let bucket: string;
  let sys: InProcessSystem;
  let hook: Server;
  let notices: Array<Record<string, unknown>>;
  let hookUrl: string;

  before(async () => {
    ch = await new TestClickHouse().setup();
    const events = [];
    for (let h = 0; h < 12; h++) events.push(makeEvent({ inserted_at: chTime(iso(base + h * HOUR + 60_000)) }));
    await ch.insert(events);
    s3 = testS3Client();
    notices = [];
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        notices.push(JSON.parse(body) as Record<string, unknown>);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
  });
  after(async () => {
    hook.close();
    await ch.drop();
  });
  beforeEach(async () => {
    notices.length = 0;
    bucket = await createBucket(s3);
    sys = await new InProcessSystem(ch.database).start();
  });
  afterEach(async () => sys.stop());

  const createExport = async (
    config: Record<string, unknown>,
    overrides: Record<string, unknown> = {},
  ): Promise<string> => {
    const res = await sys.call('POST', '/api/exports', {
      name: 'resilient',
      team_id: 1,
      interval: 'hour',
      // Not scheduled (its end is in the past): backfills are its only runs.
      end_at: iso(base + 12 * HOUR),
      destination: {
        type: 'S3',
        config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS, ...config },
      },
      ...overrides,
    });
    expect(res.status, JSON.stringify(res.json)).to.equal(201);
    return res.json.id as string;
  };
  const runsOf = async (id: string): Promise<Run[]> =>
    (await sys.call('GET', `/api/exports/${id}/runs?limit=1000`)).json.results;

  it('a permanently failed run goes to the dead-letter queue with its error; a retry from the API takes it out and completes', async () => {
    const id = await createExport({ bucket_name: 'no-such-bucket-dlq' });
    sys.startWorker();
    await sys.call('POST', `/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + HOUR) });
    const runId = runIdFor(id, base);
    const failed = await eventually(
      async () => (await runsOf(id)).find((r) => r.status === 'Failed'),
      20_000,
      'a failed run',
    );
    expect(failed).to.deep.include({ id: runId, attempts: 1 });
    expect(failed.error).to.contain('NoSuchBucket');
    await eventually(
      async () => ((await sys.queue.deadLetterIds()).length > 0 ? true : undefined),
      10_000,
      'the run in the dead-letter queue',
    );
    expect(await sys.queue.deadLetterIds()).to.deep.equal([runId]);
    const dead = await sys.bullmq.deadLetter.getJob(runId);
    expect(dead!.data).to.deep.include({ run_id: runId, export_id: id, attempts: 1 });
    expect(dead!.data.error).to.contain('NoSuchBucket');

    await sys.call('PATCH', `/api/exports/${id}`, {
      // A new bucket is a new place for the data: the secret comes again (secrets_required).
      destination: { config: { bucket_name: bucket, ...S3_CREDENTIALS } },
    });
    expect((await sys.call('POST', `/api/exports/${id}/runs/${runId}/retry`)).status).to.equal(202);
    expect(await sys.queue.deadLetterIds()).to.deep.equal([]);
    await eventually(
      async () => ((await runsOf(id))[0]!.status === 'Completed' ? true : undefined),
      20_000,
      'the retried run',
    );
    // The interval's object and its receipt.
    expect((await listKeys(s3, bucket)).map((k) => k.endsWith('_receipt.json'))).to.have.members([false, true]);
  });

  it('a retryable failure backs off through every attempt, then is Failed and dead-lettered', async () => {
    // Nothing listens on this port: connection refused is retryable.
    const id = await createExport({ endpoint_url: 'http://127.0.0.1:9' });
    // Every status the worker writes, seen on the real store as it is written: polling the API
    // can miss a FailedRetryable that lasts only the 100 ms backoff.
    const written: Array<{ status: string; attempt: number | undefined; at: number }> = [];
    const fail = sys.store.runs.fail.bind(sys.store.runs);
    sys.store.runs.fail = async (runId, status, error, now, attempt) => {
      written.push({ status, attempt: typeof attempt === 'object' ? attempt.attempt : attempt, at: Date.now() });
      return fail(runId, status, error, now, attempt);
    };
    sys.startWorker();
    await sys.call('POST', `/api/exports/${id}/backfills`, { start_at: iso(base), end_at: iso(base + HOUR) });
    const failed = await eventually(
      async () => {
        const run = (await runsOf(id))[0];
        return run?.status === 'Failed' ? run : undefined;
      },
      30_000,
      'the run to exhaust its attempts',
    );
    expect(failed.attempts).to.equal(3);
    expect(failed.error).to.match(/ECONNREFUSED|connect/i);
    expect(written.map((w) => [w.status, w.attempt])).to.deep.equal([
      ['FailedRetryable', 1],
      ['FailedRetryable', 2],
      ['Failed', 3],
    ]);
    // Exponential backoff from 100 ms with jitter 0.5: at least 50 ms, then at least 100 ms between attempts.
    expect(written[1]!.at - written[0]!.at).to.be.at.least(50);
    expect(written[2]!.at - written[1]!.at).to.be.at.least(100);
    // The run is Failed as soon as the worker writes it; its job reaches the dead-letter queue a moment later.
    await eventually(
      async () => ((await sys.queue.deadLetterIds()).length > 0 ? true : undefined),
      10_000,
      'the run in the dead-letter queue',
    );
    expect(await sys.queue.deadLetterIds()).to.deep.equal([failed.id]);
  });

  it('after N consecutive failed runs the export is paused with the reason, and the webhook is called once', async () => {
    const id = await createExport(
      { aws_access_key_id: 'WRONG-KEY' },
      { paused: false, start_at: iso(base), end_at: iso(base + 12 * HOUR) },
    );
    sys.startWorker(2, new FailurePolicy(sys.store, sys.logger, { threshold: 3, webhookUrl: hookUrl }));
    await sys.scheduler.tick();
    const exp = await eventually(
      async () => {
        const e = (await sys.call('GET', `/api/exports/${id}`)).json as BatchExport;
        return e.paused ? e : undefined;
      },
      30_000,
      'the export to be paused',
    );
    const runs = await eventually(
      async () => {
        const all = await runsOf(id);
        return all.length === 12 && all.every((r) => r.status !== 'Running') ? all : undefined;
      },
      30_000,
      'no run running',
    );
    // Permanent errors: one attempt each, no retry storm; the pause holds the runs not started yet.
    const failed = runs.filter((r) => r.status === 'Failed');
    expect(failed.length).to.be.within(3, 4); // two workers: one more may have started before the pause
    expect(failed.map((r) => r.attempts)).to.deep.equal(failed.map(() => 1));
    expect(runs.filter((r) => r.status === 'Scheduled')).to.have.length(12 - failed.length);
    expect(exp.paused_reason).to.match(/paused after \d+ consecutive failed runs; last error: .*InvalidAccessKeyId/);
    // The worker calls the webhook after it has paused the export: the notice may come a moment later.
    await eventually(async () => (notices.length > 0 ? true : undefined), 10_000, 'the webhook notice');
    expect(notices).to.have.length(1);
    expect(notices[0]).to.deep.include({
      type: 'batch_export.auto_paused',
      export_id: id,
      team_id: 1,
      destination: 'S3',
    });
    expect(await sys.store.schedule.due(Number.MAX_SAFE_INTEGER, 10)).to.not.include(id);
    // Unpausing clears the reason and the streak, and the held runs go again (and fail: the key is still wrong).
    const resumed = await sys.call('POST', `/api/exports/${id}/unpause`);
    expect(resumed.json).to.deep.include({ paused: false, paused_reason: null });
    await eventually(
      async () => ((await runsOf(id)).filter((r) => r.status === 'Failed').length > failed.length ? true : undefined),
      30_000,
      'a held run to run after unpause',
    );
  });
});
