import { expect } from 'chai';
import { join } from 'node:path';
import { Store } from '@bx/store';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { ServiceProcess, eventually } from '../helpers/processes';
import { TestPostgres, destinationConfig } from '../helpers/postgres';
import { createBucket, testS3Client } from '../helpers/s3';

const TOKEN = 'no-native-token-0123456789abcdef';
const HOUR = 3_600_000;
/** Makes resolving @bx/native, or opening its .node file, throw. */
const NO_NATIVE = ['--require', join(__dirname, '..', 'fixtures', 'no-native.cjs')];

describe('API and scheduler without the native addon', function () {
  this.timeout(60_000);
  let prefix: string;
  let store: Store;
  let services: ServiceProcess[] = [];
  let env: Record<string, string>;

  beforeEach(() => {
    prefix = uniqueName('bxn');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: TOKEN,
      PORT: '0',
      SCHEDULER_TICK_MS: '200',
      SCHEDULER_SETTLE_SECONDS: '0',
    };
  });
  afterEach(async () => {
    await Promise.all(services.map((s) => s.stop()));
    services = [];
    const keys = await store.redis.keys(`${prefix}:*`);
    for (let i = 0; i < keys.length; i += 1000) await store.redis.del(...keys.slice(i, i + 1000));
    await store.close();
  });

  function start(role: ServiceProcess['role']): ServiceProcess {
    const service = new ServiceProcess(role, env, NO_NATIVE);
    services.push(service);
    return service;
  }

  it('serve the API (health, exports, the destination test) and schedule runs', async () => {
    const api = start('api');
    await api.waitForLog('api listening');
    const port = Number(api.logs.find((l) => l.msg === 'api listening')!.port);
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).to.equal(200);
    expect(await health.json()).to.deep.equal({ status: 'ok', redis: 'ok', clickhouse: 'ok' });

    const bucket = await createBucket(testS3Client());
    const hour = Math.floor(Date.now() / HOUR) * HOUR;
    const created = await call('POST', '/api/exports', {
      name: 'no native',
      team_id: 1,
      interval: 'hour',
      // Two past hours, exactly: also when the clock passes an hour while the scheduler runs.
      start_at: new Date(hour - 2 * HOUR).toISOString(),
      end_at: new Date(hour).toISOString(),
      destination: {
        type: 'S3',
        config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
    });
    expect(created.status).to.equal(201);
    const { id } = (await created.json()) as { id: string };

    const tested = await call('POST', `/api/exports/${id}/test`);
    expect(await tested.json()).to.include({ status: 'ok' });

    start('scheduler');
    const runs = await eventually(
      async () => {
        const page = (await (await call('GET', `/api/exports/${id}/runs`)).json()) as { results: unknown[] };
        return page.results.length >= 2 ? page.results : undefined;
      },
      20_000,
      'the scheduler to create the past intervals runs',
    );
    expect(runs).to.have.length(2);
  });

  it('tests a Postgres destination (pg, not the batch encoder)', async () => {
    const pg = await new TestPostgres().setup();
    try {
      const api = start('api');
      await api.waitForLog('api listening');
      const port = Number(api.logs.find((l) => l.msg === 'api listening')!.port);
      const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      const created = await fetch(`http://127.0.0.1:${port}/api/exports`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          name: 'no native postgres',
          team_id: 1,
          interval: 'hour',
          destination: { type: 'Postgres', config: destinationConfig(pg.schema, 'events') },
        }),
      });
      expect(created.status).to.equal(201);
      const { id } = (await created.json()) as { id: string };
      const tested = await fetch(`http://127.0.0.1:${port}/api/exports/${id}/test`, { method: 'POST', headers });
      expect(await tested.json()).to.include({ status: 'ok' });
    } finally {
      await pg.drop();
    }
  });

  it('is what the worker cannot do: the preload does block the addon', async () => {
    const worker = start('worker');
    expect(await worker.exitCode()).to.equal(1);
    expect(worker.stderr.join('')).to.contain('native addon blocked');
  });
});
