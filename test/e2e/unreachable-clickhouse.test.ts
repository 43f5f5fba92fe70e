import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Run } from '@bx/core';
import { Store } from '@bx/store';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { ServiceProcess, closedPort, eventually } from '../helpers/processes';

const ROOT = join(__dirname, '..', '..');
const TOKEN = 'unreachable-token-0123456789';
const HOUR = 3_600_000;

/** The log lines of `sut` that name the variable and the address. */
function notices(sut: ServiceProcess, address: string): Array<Record<string, unknown>> {
  return sut.logs.filter((l) => String(l.msg).includes('CLICKHOUSE_URL') && String(l.msg).includes(address));
}

describe('ClickHouse unreachable: one line naming CLICKHOUSE_URL and the address', function () {
  this.timeout(90_000);
  let address: string;
  let env: Record<string, string>;
  let prefix: string;
  let services: ServiceProcess[] = [];

  beforeEach(async () => {
    address = `127.0.0.1:${await closedPort()}`;
    prefix = uniqueName('bxu');
    env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: `http://${address}`,
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
    const store = Store.connect(testEnv.REDIS_URL, prefix);
    const keys = await store.redis.keys(`${prefix}*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
  });

  function start(role: ServiceProcess['role']): ServiceProcess {
    const sut = new ServiceProcess(role, env);
    services.push(sut);
    return sut;
  }

  it('the worker says so once at start, as a warning, and keeps running', async () => {
    const sut = start('worker');
    await sut.waitForLog('worker started');
    const line = await eventually(async () => notices(sut, address)[0], 20_000, 'notice');
    expect(line.level).to.equal('warn');
    expect(notices(sut, address)).to.have.length(1);
    expect(sut.running).to.equal(true);
    expect(sut.stderr.join('')).to.equal('');
  });

  it('the API says so at start, and /healthz reports ClickHouse down', async () => {
    const sut = start('api');
    await sut.waitForLog('api listening');
    await eventually(async () => notices(sut, address)[0], 20_000, 'notice');
    const port = sut.logs.find((l) => l.msg === 'api listening')!.port as number;
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).to.equal(503);
    expect(((await health.json()) as { clickhouse: string }).clickhouse).to.equal('down');
  });

  it("npm start says it once, and a run's error names it too", async () => {
    const sut = start('all-in-one');
    await sut.waitForLog('api listening');
    const port = sut.logs.find((l) => l.msg === 'api listening')!.port as number;
    const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const created = await fetch(`http://127.0.0.1:${port}/api/exports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'unreachable',
        team_id: 1,
        interval: 'hour',
        start_at: new Date(base).toISOString(),
        end_at: new Date(base + HOUR).toISOString(),
        destination: {
          type: 'S3',
          config: { bucket_name: 'bucket-one', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
        },
      }),
    });
    expect(created.status).to.equal(201);
    const { id } = (await created.json()) as { id: string };
    const run = await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/api/exports/${id}/runs`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        const { results } = (await res.json()) as { results: Run[] };
        return results.find((r) => r.error);
      },
      30_000,
      'a failed attempt',
    );
    expect(run.status).to.equal('FailedRetryable');
    expect(run.error).to.contain('CLICKHOUSE_URL').and.contain(address);
    expect(notices(sut, address).filter((l) => String(l.msg).startsWith('ClickHouse is not reachable'))).to.have.length(
      1,
    );
  });

  it('the demo exits 1 with one line naming CLICKHOUSE_URL, before it starts anything', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'scripts', 'demo.ts')],
        { env: { ...process.env, CLICKHOUSE_URL: `http://${address}`, PORT: '0' } },
        (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      );
    });
    expect(code).to.equal(1);
    const lines = stderr.trim().split('\n');
    expect(lines, stderr).to.have.length(1);
    expect(lines[0]).to.contain('CLICKHOUSE_URL').and.contain(address);
  });
});
