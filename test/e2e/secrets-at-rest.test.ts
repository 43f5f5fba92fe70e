import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import type { Run } from '@bx/core';
import { Store } from '@bx/store';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestClickHouse } from '../helpers/clickhouse';
import { testEnv, uniqueName } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { ServiceProcess, eventually } from '../helpers/processes';
import { createBucket, testS3Client } from '../helpers/s3';

const HOUR = 3_600_000;
const TOKEN = 'secrets-token-0123456789';
const iso = (ms: number) => new Date(ms).toISOString();
const newKey = () => randomBytes(32).toString('base64');

/** `npm run rotate-secrets` as an operator runs it. */
function rotateSecrets(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = join(__dirname, '..', '..', 'services', 'cli', 'dist', 'rotate-secrets.js');
  return new Promise((resolve) =>
    execFile(process.execPath, [script], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
    ),
  );
}

describe('destination secrets at rest (SECRETS_ENCRYPTION_KEYS)', function () {
  this.timeout(120_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let bucket: string;
  let store: Store;
  let env: Record<string, string>;
  const services: ServiceProcess[] = [];
  // s3rver does not check signatures: any secret works, and a distinctive one can be looked for.
  const secret = `secret-${randomBytes(12).toString('hex')}`;
  const first = newKey();
  const second = newKey();
  const base = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(
      Array.from({ length: 3 }, (_, h) => makeEvent({ inserted_at: chTime(iso(base + h * HOUR + 60_000)) })),
    );
    s3 = testS3Client();
    bucket = await createBucket(s3);
    const prefix = uniqueName('bxk');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    env = {
      REDIS_URL: testEnv.REDIS_URL,
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_DATABASE: ch.database,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: TOKEN,
      // Long enough that the worker without the key (below) is stopped before its fifth attempt fails the run.
      RUN_BACKOFF_MS: '2000',
    };
  });
  after(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    const keys = await store.redis.keys(`${env.QUEUE_PREFIX}:*`);
    if (keys.length) await store.redis.del(...keys);
    await store.close();
    await ch.drop();
  });

  const start = async (role: ServiceProcess['role'], extra: Record<string, string>) => {
    const service = new ServiceProcess(role, { ...env, ...extra });
    services.push(service);
    await service.waitForLog(role === 'api' ? 'api listening' : `${role} started`);
    return service;
  };
  const stop = async (service: ServiceProcess) => {
    services.splice(services.indexOf(service), 1);
    await service.stop();
  };
  const api = async (port: number, method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };
  const stored = async (id: string) => (await store.redis.get(`${env.QUEUE_PREFIX}:export:${id}`))!;
  const runAt = async (port: number, id: string, hour: number, until?: Run['status'][]): Promise<Run> => {
    const backfill = await api(port, 'POST', `/api/exports/${id}/backfills`, {
      start_at: iso(base + hour * HOUR),
      end_at: iso(base + (hour + 1) * HOUR),
    });
    expect(backfill.status, backfill.text).to.equal(201);
    return runOf(port, id, hour, until);
  };
  /** The run of `hour` once its status is one of `until` (default: final). */
  const runOf = (port: number, id: string, hour: number, until: Run['status'][] = ['Completed', 'Failed']) =>
    eventually(
      async () => {
        const runs = JSON.parse((await api(port, 'GET', `/api/exports/${id}/runs`)).text).results as Run[];
        const run = runs.find((r) => r.data_interval_start === iso(base + hour * HOUR));
        return run && until.includes(run.status) ? run : undefined;
      },
      60_000,
      `the run of hour ${hour}`,
    );

  it('stores secrets encrypted, runs with them, and rotates to a new key', async () => {
    const apiProcess = await start('api', { PORT: '0', SECRETS_ENCRYPTION_KEYS: first });
    const port = apiProcess.logs.find((l) => l.msg === 'api listening')!.port as number;
    const created = await api(port, 'POST', '/api/exports', {
      name: 'secret',
      team_id: 1,
      interval: 'hour',
      // Ended before now: never scheduled (a paused export would hold its backfills).
      end_at: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString(),
      destination: {
        type: 'S3',
        config: {
          bucket_name: bucket,
          endpoint_url: testEnv.S3_ENDPOINT_URL,
          aws_access_key_id: 'S3RVER',
          aws_secret_access_key: secret,
        },
      },
    });
    expect(created.status, created.text).to.equal(201);
    const id = JSON.parse(created.text).id as string;

    // What redis-cli GET <prefix>:export:<id> (and the AOF) shows.
    const sealed = await stored(id);
    expect(sealed).to.not.contain(secret);
    expect(JSON.parse(sealed).destination.config.aws_secret_access_key).to.match(/^bxenc:v1:/);

    const worker = await start('worker', { SECRETS_ENCRYPTION_KEYS: first });
    expect((await runAt(port, id, 0)).status).to.equal('Completed');
    await stop(worker);

    // Rotation: the new key first, the old one still there to open what it sealed.
    const rotation = { ...env, SECRETS_ENCRYPTION_KEYS: `${second},${first}` };
    const rotated = await rotateSecrets(rotation);
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect(rotated.stdout).to.contain('1/1 checked, 1 re-encrypted, 0 already current, 0 unreadable');
    const resealed = await stored(id);
    expect(resealed).to.not.contain(secret).and.to.not.equal(sealed);
    const again = await rotateSecrets(rotation);
    expect(again.stdout, 'idempotent').to.contain('1/1 checked, 0 re-encrypted, 1 already current');
    expect(await stored(id)).to.equal(resealed);

    // The old key can go.
    const onlyNew = await start('worker', { SECRETS_ENCRYPTION_KEYS: second });
    expect((await runAt(port, id, 1)).status).to.equal('Completed');
    await stop(onlyNew);

    // A worker without the key that sealed it (one not restarted yet mid-rotation, a machine
    // added with the old environment) says so and sends nothing; but the run is not Failed for
    // good, nor counted towards auto-pausing the export: a worker that has the key runs it.
    // (Its fifth attempt would fail the run for good: test/unit/export-keys.test.ts.)
    const keyless = await start('worker', { SECRETS_ENCRYPTION_KEYS: first });
    const waiting = await runAt(port, id, 2, ['FailedRetryable', 'Failed', 'Completed']);
    expect(waiting.status, waiting.error ?? '').to.equal('FailedRetryable');
    expect(waiting.error).to.contain('SECRETS_ENCRYPTION_KEYS').and.to.not.contain(secret);
    await stop(keyless);
    await start('worker', { SECRETS_ENCRYPTION_KEYS: `${second},${first}` });
    const done = await runOf(port, id, 2);
    expect(done.status, done.error ?? '').to.equal('Completed');
    expect(JSON.parse((await api(port, 'GET', `/api/exports/${id}`)).text).paused).to.equal(false);
  });

  it('a role without SECRETS_ENCRYPTION_KEYS fails at start naming it, unless ALLOW_PLAINTEXT_SECRETS=true', async () => {
    for (const role of ['api', 'worker', 'scheduler'] as const) {
      const sut = new ServiceProcess(role, { ...env, PORT: '0', SECRETS_ENCRYPTION_KEYS: '' });
      services.push(sut);
      expect(await sut.exitCode(), role).to.equal(1);
      const lines = sut.stderr.join('').trim().split('\n');
      expect(lines, role).to.have.length(1);
      expect(lines[0]).to.contain('SECRETS_ENCRYPTION_KEYS');
    }
    const bad = new ServiceProcess('worker', { ...env, SECRETS_ENCRYPTION_KEYS: 'too-short' });
    services.push(bad);
    expect(await bad.exitCode()).to.equal(1);
    expect(bad.stderr.join('')).to.contain('SECRETS_ENCRYPTION_KEYS').and.to.contain('32 bytes');

    const plaintext = await start('worker', { SECRETS_ENCRYPTION_KEYS: '', ALLOW_PLAINTEXT_SECRETS: 'true' });
    expect(plaintext.logs.some((l) => String(l.msg).includes('ALLOW_PLAINTEXT_SECRETS=true'))).to.equal(true);
  });

  it('rotate-secrets without a key is a configuration error naming the variable', async () => {
    const res = await rotateSecrets({ ...env, SECRETS_ENCRYPTION_KEYS: '' });
    expect(res.code).to.equal(2);
    expect(res.stderr).to.contain('SECRETS_ENCRYPTION_KEYS');
  });
});
