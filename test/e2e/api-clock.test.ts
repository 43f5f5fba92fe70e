import { expect } from 'chai';
import { intervalContaining } from '@bx/core';
import { Store } from '@bx/store';
import { join } from 'node:path';
import { deleteKeysUnder } from '../helpers/redis-keys';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { ServiceProcess } from '../helpers/processes';

/** The preload the chaos suite skews service clocks with (test/chaos/clock-skew.cjs). */
const CLOCK_SKEW_PRELOAD = join(__dirname, '..', 'chaos', 'clock-skew.cjs');
const TOKEN = 'api-clock-token-0123456789';
const HOUR = 3_600_000;
const SKEW_MS = 3 * HOUR;

describe("API clock: the scheduler's (Redis time), not the host's", function () {
  this.timeout(60_000);
  const prefix = uniqueName('api-clock');
  const store = Store.connect(testEnv.REDIS_URL, prefix);
  const apis: ServiceProcess[] = [];

  /** An API process whose host clock runs `skew` ms off (the chaos suite's preload). */
  async function skewedApi(skew: number) {
    const sut = new ServiceProcess(
      'api',
      {
        REDIS_URL: testEnv.REDIS_URL,
        CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
        QUEUE_PREFIX: prefix,
        ADMIN_API_TOKEN: TOKEN,
        PORT: '0',
        TEST_CLOCK_SKEW_MS: String(skew),
      },
      ['--require', CLOCK_SKEW_PRELOAD],
    );
    apis.push(sut);
    await sut.waitForLog('api listening');
    // The skew is real: the process's own log time is `skew` off.
    const logged = Date.parse(String(sut.logs.find((l) => l.msg === 'api listening')!.time));
    expect(Math.abs(logged - Date.now() - skew)).to.be.below(60_000);
    return async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${sut.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, any> };
    };
  }

  const exportBody = {
    name: 'clock',
    team_id: 1,
    interval: 'hour',
    destination: { type: 'S3', config: { bucket_name: 'bucket-one', region: 'us-east-1', ...S3_CREDENTIALS } },
  };

  after(async () => {
    await Promise.all(apis.map((a) => a.stop()));
    await deleteKeysUnder(store.redis, prefix);
    await store.close();
  });

  it('a host clock 3 hours fast: the first interval is the one holding Redis time; end_at after it is refused', async () => {
    const call = await skewedApi(SKEW_MS);
    const before = await store.now();
    const created = await call('POST', '/api/exports', exportBody);
    const after = await store.now();
    expect(created.status).to.equal(201);
    const cursor = await store.schedule.cursor(created.json.id as string);
    // The interval that holds Redis time when the export was created (either side of an hour boundary).
    const current = [before, after].map((t) => intervalContaining(t, 'hour', 'UTC').start);
    expect(current, `cursor ${new Date(cursor!).toISOString()}`).to.include(cursor);
    const createdAt = Date.parse(created.json.created_at as string);
    expect(createdAt).to.be.within(before - 1000, after + 1000);

    // An hour from now by Redis time is in the future, though the API's host thinks it passed.
    const future = await call('POST', `/api/exports/${created.json.id as string}/backfills`, {
      start_at: new Date(after - 2 * HOUR).toISOString(),
      end_at: new Date(after + HOUR).toISOString(),
      dry_run: true,
    });
    expect(future.status).to.equal(400);
    expect(future.json.error.details[0].field).to.equal('end_at');
  });

  it('a host clock 3 hours slow: a backfill up to a minute ago is accepted', async () => {
    const call = await skewedApi(-SKEW_MS);
    const created = await call('POST', '/api/exports', exportBody);
    expect(created.status).to.equal(201);
    const now = await store.now();
    const cursor = await store.schedule.cursor(created.json.id as string);
    expect(cursor).to.be.at.least(intervalContaining(now, 'hour', 'UTC').start - HOUR); // not 3 hours back
    const plan = await call('POST', `/api/exports/${created.json.id as string}/backfills`, {
      start_at: new Date(intervalContaining(now, 'hour', 'UTC').start - 2 * HOUR).toISOString(),
      end_at: new Date(now - 60_000).toISOString(),
      dry_run: true,
    });
    expect(plan.status, JSON.stringify(plan.json)).to.equal(200);
    expect(plan.json.total_runs).to.be.within(2, 3);
  });
});
