import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import type { Run } from '@bx/core';
import { E2eSystem, E2E_TOKEN, seedHours } from '../helpers/e2e-system';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { eventually, sleep, type ServiceProcess } from '../helpers/processes';
import { createBucket, testS3Client } from '../helpers/s3';

/**
 * Two API processes, two schedulers and two workers at once, and an operator
 * who changes their mind: an export paused and unpaused through either API
 * while its catch-up runs and a forced backfill of the same hours are in
 * flight. In the end every interval is exported once (verify), every run is
 * Completed, the backfill Completed with every run counted.
 */
describe('end to end: pause and unpause through two APIs while two schedulers and workers run', function () {
  this.timeout(180_000);
  const sut = new E2eSystem({ prefix: 'bxcc', hours: 24 });
  let s3: S3Client;
  let bucket: string;
  let apis: ServiceProcess[] = [];

  before(async () => {
    await sut.start(seedHours(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 24 * 3_600_000, 24), {
      WORKER_CONCURRENCY: '3',
    });
    apis = [sut.services.find((s) => s.role === 'api')!, await sut.startService('api', { PORT: '0' }, 'api listening')];
    await sut.startService('scheduler');
    await sut.startService('worker', { WORKER_CONCURRENCY: '3' });
    s3 = testS3Client();
    bucket = await createBucket(s3);
  });
  after(async () => sut.stop());

  /** A request to one of the two APIs. */
  async function call<T>(api: number, method: string, path: string, body?: unknown) {
    const res = await fetch(`http://127.0.0.1:${apis[api]!.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${E2E_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as T };
  }

  it('every interval exported once, every run Completed, the backfill Completed', async () => {
    const exp = await sut.createExport('flapping', {
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix: 'flap', ...S3_CREDENTIALS },
    });
    const statuses: number[] = [];
    let backfillId = '';
    for (let i = 0; i < 30; i++) {
      const a = i % 2;
      statuses.push((await call(a, 'POST', `/api/exports/${exp.id}/pause`)).status);
      await sleep(Math.random() * 150);
      if (i === 5) {
        const created = await call<{ id: string }>(1 - a, 'POST', `/api/exports/${exp.id}/backfills`, {
          start_at: new Date(sut.base).toISOString(),
          end_at: new Date(sut.end).toISOString(),
          force: true,
        });
        expect(created.status, JSON.stringify(created.body)).to.equal(201);
        backfillId = created.body.id;
      }
      statuses.push((await call(1 - a, 'POST', `/api/exports/${exp.id}/unpause`)).status);
      await sleep(Math.random() * 150);
    }
    expect(
      statuses.filter((s) => s >= 300),
      `answers ${statuses.join(',')}`,
    ).to.deep.equal([]);

    const runs = await eventually(
      async () => {
        const list = (await call<{ results: Run[] }>(0, 'GET', `/api/exports/${exp.id}/runs?limit=100`)).body.results;
        return list.length === 24 && list.every((r) => r.status === 'Completed') ? list : undefined;
      },
      90_000,
      '24 Completed runs',
    ).catch(async (err: Error) => {
      const list = (await call<{ results: Run[] }>(0, 'GET', `/api/exports/${exp.id}/runs?limit=100`)).body.results;
      throw new Error(
        `${err.message}: ${list.map((r) => `${r.data_interval_start} ${r.status} ${r.attempts}`).join('; ')}`,
      );
    });
    expect(runs).to.have.length(24);
    const backfill = await eventually(
      async () => {
        const b = (
          await call<{ status: string; finished_runs: number; skipped_runs: number; total_runs: number }>(
            1,
            'GET',
            `/api/exports/${exp.id}/backfills/${backfillId}`,
          )
        ).body;
        return b.status !== 'Running' ? b : undefined;
      },
      60_000,
      'the backfill to finish',
    );
    expect(backfill.status, JSON.stringify(backfill)).to.equal('Completed');
    expect(backfill.finished_runs + backfill.skipped_runs, JSON.stringify(backfill)).to.equal(24);

    const verified = await sut.verify(exp.id);
    expect(verified.code, verified.stdout).to.equal(0);
    const crashed = sut.services.filter((s) => !s.running).map((s) => s.role);
    expect(crashed, sut.logs(true).slice(-3000)).to.deep.equal([]);
  });
});
