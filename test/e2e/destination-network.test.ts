import { expect } from 'chai';
import type { Run } from '@bx/core';
import { Store } from '@bx/store';
import { CaptureServer } from '../helpers/capture-server';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { ServiceProcess, eventually } from '../helpers/processes';

const HOUR = 3_600_000;
const TOKEN = 'network-token-0123456789';
const iso = (ms: number) => new Date(ms).toISOString();

describe('ALLOWED_PRIVATE_DESTINATIONS in the real processes', function () {
  this.timeout(90_000);
  let ch: TestClickHouse;
  let listener: CaptureServer;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];
  const base = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert([makeEvent({ inserted_at: chTime(iso(base + 60_000)) })]);
    listener = await new CaptureServer().start();
    env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      QUEUE_PREFIX: uniqueName('bxn'),
      ADMIN_API_TOKEN: TOKEN,
      PORT: '0',
    };
  });
  after(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    const prefix = env.QUEUE_PREFIX!;
    const store = Store.connect(testEnv.REDIS_URL, prefix);
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
    await listener.stop();
    await ch.drop();
  });

  const start = async (role: ServiceProcess['role'], allowed: string) => {
    const service = new ServiceProcess(role, { ...env, ALLOWED_PRIVATE_DESTINATIONS: allowed });
    services.push(service);
    await service.waitForLog(role === 'api' ? 'api listening' : `${role} started`);
    return service;
  };
  const api = async (service: ServiceProcess, method: string, path: string, body?: unknown) => {
    const port = service.logs.find((l) => l.msg === 'api listening')!.port as number;
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const exportTo = (endpoint: string) => ({
    name: 'ssrf',
    team_id: 1,
    interval: 'hour',
    // Ended before now: never scheduled (a paused export would hold its backfills).
    end_at: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString(),
    destination: { type: 'S3', config: { bucket_name: 'bx-ssrf-run', endpoint_url: endpoint, ...S3_CREDENTIALS } },
  });

  it('the API refuses a loopback destination by default; a worker refuses to run one', async () => {
    const strictApi = await start('api', '');
    const refused = await api(strictApi, 'POST', '/api/exports', exportTo(`http://localhost:${listener.port}`));
    expect(refused.status).to.equal(400);
    expect(refused.json.error.code).to.equal('destination_not_allowed');

    // Created while loopback was allowed; the worker's policy no longer allows it.
    const lenientApi = await start('api', 'localhost');
    const created = await api(lenientApi, 'POST', '/api/exports', exportTo(`http://localhost:${listener.port}`));
    expect(created.status).to.equal(201);
    await start('worker', '');
    const backfill = await api(lenientApi, 'POST', `/api/exports/${created.json.id}/backfills`, {
      start_at: iso(base),
      end_at: iso(base + HOUR),
    });
    expect(backfill.status).to.equal(201);
    const run = await eventually(
      async () => {
        const runs = (await api(lenientApi, 'GET', `/api/exports/${created.json.id}/runs`)).json.results as Run[];
        return runs.find((r) => r.status === 'Failed' || r.status === 'Completed');
      },
      60_000,
      'the run to finish',
    );
    expect(run.status).to.equal('Failed');
    expect(run.error).to.contain('loopback').and.to.contain('ALLOWED_PRIVATE_DESTINATIONS');
    expect(listener.connections, 'the worker never connected').to.equal(0);
  });
});
