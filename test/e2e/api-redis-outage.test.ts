import { expect } from 'chai';
import { Redis } from 'ioredis';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { ServiceProcess, eventually } from '../helpers/processes';
import { deleteKeysUnder } from '../helpers/redis-keys';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';

const TOKEN = 'outage-token-0123456789abcdef';

/**
 * The API (`npm run start:api`) in front of a Redis that goes away: every
 * request that needs Redis used to answer 500 `internal` ("a bug"), which
 * clients and load balancers do not retry. Redis down is 503 `unavailable`
 * with Retry-After (Bull Board's API too, which hung until Redis came
 * back), and the API answers as before once Redis is back.
 */
describe('API while Redis is unreachable', function () {
  this.timeout(90_000);
  const prefix = uniqueName('bxoutage');
  const redisPort = Number(new URL(testEnv.REDIS_URL).port || 6379);
  let proxy: TcpFaultProxy;
  let sut: ServiceProcess;
  let base: string;

  before(async () => {
    proxy = await new TcpFaultProxy(redisPort).start();
    sut = new ServiceProcess('api', {
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      QUEUE_PREFIX: prefix,
      ADMIN_API_TOKEN: TOKEN,
      PORT: '0',
      HOST: '127.0.0.1',
    });
    await sut.waitForLog('api listening');
    base = `http://127.0.0.1:${sut.port}`;
  });

  after(async () => {
    await sut.stop();
    await proxy.stop();
    const redis = new Redis(testEnv.REDIS_URL);
    await deleteKeysUnder(redis, prefix);
    await redis.quit();
  });

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      method,
      redirect: 'manual',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      // Bull Board's commands waited for Redis to come back: a request that hangs fails the test.
      signal: AbortSignal.timeout(20_000),
    });

  it('answers 503 unavailable with Retry-After, not 500, and recovers with Redis', async () => {
    const created = await call('POST', '/api/exports', {
      name: 'outage',
      team_id: 1,
      interval: 'hour',
      destination: {
        type: 'S3',
        config: { bucket_name: 'outage-bucket', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
      },
    });
    expect(created.status).to.equal(201);
    const { id } = (await created.json()) as { id: string };

    proxy.fault = 'reset';
    proxy.resetAll();
    const requests: Array<[string, string, unknown?]> = [
      ['GET', '/api/exports'],
      ['GET', `/api/exports/${id}`],
      ['GET', `/api/exports/${id}/runs`],
      ['POST', `/api/exports/${id}/pause`],
      ['GET', '/metrics'],
      ['GET', '/admin/queues/api/queues'],
    ];
    for (const [method, path, body] of requests) {
      const res = await call(method, path, body);
      const text = await res.text();
      expect(res.status, `${method} ${path}: ${text}`).to.equal(503);
      expect(JSON.parse(text).error.code).to.equal('unavailable');
      expect(res.headers.get('retry-after')).to.equal('5');
    }
    // The login form opens a session in Redis: the browser is told to come back too.
    const login = await fetch(`${base}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKEN }).toString(),
    });
    expect(login.status, await login.text()).to.equal(503);

    proxy.fault = 'none';
    const back = await eventually(
      async () => {
        const res = await call('GET', `/api/exports/${id}`);
        return res.status === 200 ? ((await res.json()) as { id: string; paused: boolean }) : undefined;
      },
      30_000,
      'the API answering again once Redis is back',
    );
    expect(back.id).to.equal(id);
    expect(back.paused, 'the pause refused during the outage did not happen').to.equal(false);
  });
});
