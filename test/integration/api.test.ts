import { expect } from 'chai';
import { createApp } from '@bx/api';
import { ClickHouseSource } from '@bx/clickhouse';
import { createLogger } from '@bx/core';
import { checkDestination } from '@bx/destinations';
import { BackfillService, ExportService, RunService } from '@bx/operations';
import { BullMqRunQueue } from '@bx/queue';
import { Scheduler } from '@bx/scheduler';
import { Store } from '@bx/store';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3_CREDENTIALS, testEnv, uniqueName } from '../helpers/env';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';
import { snowflakeConfig, startSnowflakeServer } from '../helpers/snowflake';

const TOKEN = 'test-token-0123456789abcdef';
const SECRET = 'super-secret-value-4242';
const logger = createLogger({}, 'error');

describe('admin API over HTTP', () => {
  let prefix: string;
  let store: Store;
  let queue: BullMqRunQueue;
  let clickhouse: ClickHouseSource;
  let server: Server;
  let base: string;
  const clock = Date.parse('2024-01-01T05:30:00Z');

  const call = async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? (JSON.parse(text) as Record<string, any>) : null };
  };
  const s3Body = (overrides: Record<string, unknown> = {}) => ({
    name: 'hourly to S3',
    team_id: 7,
    interval: 'hour',
    start_at: '2024-01-01T00:00:00Z',
    destination: {
      type: 'S3',
      config: {
        bucket_name: 'bucket-one',
        region: 'eu-west-1',
        prefix: 'x/{year}',
        aws_access_key_id: 'AKIA1',
        aws_secret_access_key: SECRET,
      },
    },
    ...overrides,
  });

  before(async () => {
    prefix = uniqueName('bxt');
    store = Store.connect(testEnv.REDIS_URL, prefix);
    queue = new BullMqRunQueue({ redis: { url: testEnv.REDIS_URL }, prefix, attempts: 3, backoffMs: 10 });
    clickhouse = new ClickHouseSource({
      url: testEnv.CLICKHOUSE_URL,
      username: 'default',
      password: '',
      requestTimeoutMs: 5000,
    });
    const service = new ExportService(store, queue, logger, () => clock);
    const app = createApp({
      token: TOKEN,
      service,
      runs: new RunService(store, queue, logger),
      backfills: new BackfillService(store, queue, logger, () => clock),
      store,
      queue,
      bullBoardReadOnly: false,
      clickhouse,
      logger,
      checkDestination,
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await queue.obliterate();
    const keys = await store.redis.keys(`${prefix}:*`);
    if (keys.length) await store.redis.del(...keys);
    await Promise.all([queue.close(), store.close(), clickhouse.close()]);
  });

  it('GET /healthz needs no token and reports each dependency', async () => {
    const res = await call('GET', '/healthz', undefined, null);
    expect(res.status).to.equal(200);
    expect(res.json).to.deep.equal({ status: 'ok', redis: 'ok', clickhouse: 'ok' });
  });

  it('401 without a token or with a wrong one', async () => {
    expect((await call('GET', '/api/exports', undefined, null)).status).to.equal(401);
    const wrong = await call('GET', '/api/exports', undefined, 'nope');
    expect(wrong.status).to.equal(401);
    expect(wrong.json!.error.code).to.equal('unauthorized');
  });

  it('creates, reads, lists, patches and deletes an export, never showing secrets', async () => {
    const created = await call('POST', '/api/exports', s3Body());
    expect(created.status).to.equal(201);
    expect(created.text).to.not.contain(SECRET);
    expect(created.json).to.deep.include({
      name: 'hourly to S3',
      team_id: 7,
      interval: 'hour',
      timezone: 'UTC',
      paused: false,
      model: 'events',
    });
    expect(created.json!.destination.config).to.not.have.property('aws_secret_access_key');
    const id = created.json!.id as string;

    const one = await call('GET', `/api/exports/${id}`);
    expect(one.status).to.equal(200);
    expect(one.json!.latest_runs).to.deep.equal([]);
    expect(one.text).to.not.contain(SECRET);

    expect((await call('GET', '/api/exports?team_id=7')).json!.results.map((e: { id: string }) => e.id)).to.deep.equal([
      id,
    ]);
    expect((await call('GET', '/api/exports?team_id=8')).json!.results).to.deep.equal([]);

    const patched = await call('PATCH', `/api/exports/${id}`, {
      name: 'renamed',
      destination: { config: { prefix: 'y/{month}' } },
    });
    expect(patched.status).to.equal(200);
    expect(patched.json).to.deep.include({ name: 'renamed' });
    expect(patched.json!.destination.config.prefix).to.equal('y/{month}');
    expect(patched.text).to.not.contain(SECRET);
    const stored = await store.exports.get(id);
    expect((stored!.destination.config as { aws_secret_access_key: string }).aws_secret_access_key).to.equal(SECRET);

    expect((await call('POST', `/api/exports/${id}/pause`)).json!.paused).to.equal(true);
    expect((await call('POST', `/api/exports/${id}/unpause`)).json!.paused).to.equal(false);

    expect((await call('DELETE', `/api/exports/${id}`)).status).to.equal(204);
    expect((await call('GET', `/api/exports/${id}`)).status).to.equal(404);
  });

  it('a change that read the export before a DELETE landed does not bring it back', async () => {
    // It did: the PATCH wrote the export back after the DELETE (204), so it answered 200 again,
    // out of every list, and the scheduler ran it. 71 of 100 concurrent PATCH + DELETE pairs.
    const id = (await call('POST', '/api/exports', s3Body())).json!.id as string;
    const exports = store.exports;
    const read = exports.read;
    exports.read = async (exportId: string) => {
      const version = await read.call(exports, exportId);
      exports.read = read;
      // The DELETE lands between the PATCH's read and its write.
      expect((await call('DELETE', `/api/exports/${id}`)).status).to.equal(204);
      return version;
    };
    try {
      const patched = await call('PATCH', `/api/exports/${id}`, { name: 'renamed' });
      expect(patched.status, patched.text).to.equal(404);
    } finally {
      exports.read = read;
    }
    expect((await call('GET', `/api/exports/${id}`)).status).to.equal(404);
    expect(await store.redis.zscore(store.keys.schedule, id)).to.equal(null);
    expect(await store.redis.hexists(store.keys.cursor, id)).to.equal(0);
  });

  it('unpause takes {backfill: boolean} and names a field of another type or an unknown one', async () => {
    // `{"backfill": "yes"}` was taken as false, silently: the paused span was never exported.
    const id = (await call('POST', '/api/exports', s3Body({ paused: true }))).json!.id as string;
    for (const [body, field] of [
      [{ backfill: 'yes' }, 'backfill'],
      [{ backfill: 1 }, 'backfill'],
      [{ backfil: true }, 'backfil'],
      [[true], 'body'],
    ] as const) {
      const res = await call('POST', `/api/exports/${id}/unpause`, body);
      expect(res.status, JSON.stringify(body)).to.equal(400);
      expect(res.json!.error.details.map((d: { field: string }) => d.field)).to.deep.equal([field]);
    }
    expect((await call('GET', `/api/exports/${id}`)).json!.paused).to.equal(true);
    expect((await call('POST', `/api/exports/${id}/unpause`, { backfill: false })).json!.paused).to.equal(false);
    await call('POST', `/api/exports/${id}/pause`);
    expect((await call('POST', `/api/exports/${id}/unpause`)).json!.paused).to.equal(false);
  });

  const badInputs: Array<[string, unknown, string]> = [
    ['unknown interval', s3Body({ interval: 'monthly' }), 'interval'],
    ['string team_id', s3Body({ team_id: '7' }), 'team_id'],
    ['missing name', { ...s3Body(), name: undefined }, 'name'],
    ['bad timezone', s3Body({ timezone: 'Not/AZone' }), 'timezone'],
    ['unknown field', s3Body({ colour: 'red' }), 'colour'],
    [
      'invalid codec for JSONLines',
      s3Body({ destination: { type: 'S3', config: { ...s3Body().destination.config, compression: 'snappy' } } }),
      'destination.config.compression',
    ],
    [
      'unknown prefix variable',
      s3Body({ destination: { type: 'S3', config: { ...s3Body().destination.config, prefix: '{nope}' } } }),
      'destination.config.prefix',
    ],
    [
      'Snowflake without password or key',
      s3Body({
        destination: {
          type: 'Snowflake',
          config: { account: 'a', user: 'u', database: 'd', schema: 's', warehouse: 'w', table_name: 't' },
        },
      }),
      'destination.config.password',
    ],
    [
      "a Snowflake table named as the destination's receipts table",
      s3Body({
        destination: {
          type: 'Snowflake',
          config: {
            ...{ account: 'a', user: 'u', password: 'p', database: 'd', schema: 's', warehouse: 'w' },
            table_name: 'batch_export_receipts',
          },
        },
      }),
      'destination.config.table_name',
    ],
    [
      "a Postgres table named as the destination's receipts table",
      s3Body({
        destination: {
          type: 'Postgres',
          config: {
            host: 'db.example.com',
            database: 'd',
            user: 'u',
            password: 'p',
            table_name: 'batch_export_receipts',
          },
        },
      }),
      'destination.config.table_name',
    ],
    ['array body', [1, 2], 'body'],
    ['null body', 'null', 'body'],
    [
      'a start_at before 1970 (ClickHouse cannot bound a query there)',
      s3Body({ start_at: '0001-01-01T00:00:00Z' }),
      'start_at',
    ],
    ['an end_at past 2100', s3Body({ end_at: '9999-12-31T00:00:00Z' }), 'end_at'],
  ];
  for (const [what, body, field] of badInputs) {
    it(`400 naming ${field} for ${what}`, async () => {
      const res = await call('POST', '/api/exports', body);
      expect(res.status).to.equal(400);
      expect(res.json!.error.code).to.equal('invalid_input');
      expect(res.json!.error.details.map((d: { field: string }) => d.field)).to.include(field);
      expect(res.json!.error.message).to.contain(field);
    });
  }

  it('400 for malformed JSON, 413 for a huge body, 404 for unknown ids and routes', async () => {
    const malformed = await call('POST', '/api/exports', '{"name": ');
    expect(malformed.status).to.equal(400);
    expect(malformed.json!.error.code).to.equal('invalid_json');
    expect((await call('POST', '/api/exports', JSON.stringify({ name: 'x'.repeat(2_000_000) }))).status).to.equal(413);
    expect((await call('GET', '/api/exports/does-not-exist')).status).to.equal(404);
    expect((await call('PATCH', '/api/exports/does-not-exist', { name: 'x' })).status).to.equal(404);
    expect((await call('GET', "/api/exports/'%3B%20DROP/runs")).status).to.equal(404);
    expect((await call('GET', '/api/nothing-here')).status).to.equal(404);
  });

  it('a body that cannot be decompressed is a 400 naming the body', async () => {
    // It was 400 `bad_request` with no details: no field named.
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const res = await fetch(`${base}/api/exports`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-encoding': encoding },
        body: 'not compressed at all',
      });
      expect(res.status, encoding).to.equal(400);
      const json = (await res.json()) as { error: { details: Array<{ field: string }> } };
      expect(
        json.error.details.map((d) => d.field),
        encoding,
      ).to.deep.equal(['body']);
    }
  });

  it('POST /test reports whether the destination can be written with the export credentials', async () => {
    const s3 = testS3Client();
    const bucket = await createBucket(s3);
    const config = { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS };
    const good = (await call('POST', '/api/exports', s3Body({ destination: { type: 'S3', config } }))).json!
      .id as string;
    const ok = await call('POST', `/api/exports/${good}/test`);
    expect(ok.status).to.equal(200);
    expect(ok.json).to.deep.include({ status: 'ok' });
    expect(await listKeys(s3, bucket)).to.deep.equal([]);
    const missing = { ...config, bucket_name: 'no-such-bucket-for-test' };
    const bad = (await call('POST', '/api/exports', s3Body({ destination: { type: 'S3', config: missing } }))).json!
      .id as string;
    const failed = await call('POST', `/api/exports/${bad}/test`);
    expect(failed.json).to.deep.include({ status: 'error', code: 'NoSuchBucket', retryable: false });
    expect(failed.json!.message).to.contain('NoSuchBucket');
    const wrongKey = (
      await call(
        'POST',
        '/api/exports',
        s3Body({ destination: { type: 'S3', config: { ...config, aws_access_key_id: 'WRONG' } } }),
      )
    ).json!.id as string;
    expect((await call('POST', `/api/exports/${wrongKey}/test`)).json).to.deep.include({
      status: 'error',
      code: 'InvalidAccessKeyId',
    });
    expect((await call('POST', '/api/exports/nope/test')).status).to.equal(404);
  });

  it('POST /test for Snowflake logs in and uses the warehouse, database and schema, or says why not', async () => {
    const sf = await startSnowflakeServer({ users: { loader: SECRET }, databases: { ANALYTICS: ['PUBLIC'] } });
    try {
      const body = (overrides: Record<string, unknown>) =>
        s3Body({
          destination: { type: 'Snowflake', config: { ...snowflakeConfig(sf), password: SECRET, ...overrides } },
        });
      const good = (await call('POST', '/api/exports', body({}))).json!.id as string;
      expect((await call('POST', `/api/exports/${good}/test`)).json).to.deep.include({ status: 'ok' });
      const wrong = (await call('POST', '/api/exports', body({ password: 'wrong-password' }))).json!.id as string;
      const refused = await call('POST', `/api/exports/${wrong}/test`);
      expect(refused.json).to.deep.equal({
        status: 'error',
        message: 'Snowflake login failed: 390100: "Incorrect username or password was specified."',
        code: 'AuthenticationFailed',
        retryable: false,
      });
      const noSchema = (await call('POST', '/api/exports', body({ schema: 'missing' }))).json!.id as string;
      expect((await call('POST', `/api/exports/${noSchema}/test`)).json!.message).to.contain(
        "Schema 'missing' does not exist or not authorized.",
      );
    } finally {
      await sf.close();
    }
  });

  it('lists runs newest first with cursor pagination and a status filter', async () => {
    const id = (await call('POST', '/api/exports', s3Body())).json!.id as string;
    await new Scheduler({ store, queue, logger, settleMs: 0 }).tick(Date.parse('2024-01-01T05:00:00Z'));
    const first = await call('GET', `/api/exports/${id}/runs?limit=2`);
    expect(first.status).to.equal(200);
    expect(first.json!.results.map((r: { data_interval_start: string }) => r.data_interval_start)).to.deep.equal([
      '2024-01-01T04:00:00.000Z',
      '2024-01-01T03:00:00.000Z',
    ]);
    expect(Object.keys(first.json!.results[0]).sort()).to.deep.equal([
      'attempts',
      'backfill_id',
      'bytes_exported',
      'created_at',
      'data_interval_end',
      'data_interval_start',
      'error',
      'export_id',
      'files',
      'finished_at',
      'id',
      'receipt',
      'records_completed',
      'started_at',
      'status',
    ]);
    const one = await call('GET', `/api/exports/${id}/runs/${first.json!.results[0].id as string}`);
    expect(one.json).to.deep.equal(first.json!.results[0]);
    expect(
      (await call('GET', `/api/exports/${id}/runs/${first.json!.results[0].id as string}/logs`)).json,
    ).to.deep.equal({
      results: [],
    });
    const second = await call('GET', `/api/exports/${id}/runs?limit=2&cursor=${encodeURIComponent(first.json!.next)}`);
    expect(second.json!.results.map((r: { data_interval_start: string }) => r.data_interval_start)).to.deep.equal([
      '2024-01-01T02:00:00.000Z',
      '2024-01-01T01:00:00.000Z',
    ]);
    const last = await call('GET', `/api/exports/${id}/runs?limit=2&cursor=${encodeURIComponent(second.json!.next)}`);
    expect(last.json!.results).to.have.length(1);
    expect(last.json!.next).to.equal(null);
    expect((await call('GET', `/api/exports/${id}/runs?status=Completed`)).json!.results).to.deep.equal([]);
    expect((await call('GET', `/api/exports/${id}/runs?status=Done`)).status).to.equal(400);
    expect((await call('GET', `/api/exports/${id}/runs?limit=0`)).status).to.equal(400);
    expect((await call('GET', `/api/exports/${id}`)).json!.latest_runs).to.have.length(5);
  });

  it('pages exports oldest first with a cursor, per team too; a bad cursor or limit is a 400', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await call('POST', '/api/exports', s3Body({ team_id: 900 + (i % 2) }))).json!.id);
    const all: string[] = [];
    let next: string | null = null;
    do {
      const page: any = await call('GET', `/api/exports?limit=2${next ? `&cursor=${encodeURIComponent(next)}` : ''}`);
      expect(page.status).to.equal(200);
      expect(page.json.results.length).to.be.at.most(2);
      all.push(...page.json.results.map((e: { id: string }) => e.id));
      next = page.json.next;
    } while (next);
    // This API's clock is fixed: every export has the same created_at, and ties go by id.
    expect(all.filter((id) => ids.includes(id))).to.deep.equal([...ids].sort());
    expect(new Set(all).size).to.equal(all.length);
    const team = await call('GET', '/api/exports?team_id=901');
    expect(team.json!.results.map((e: { id: string }) => e.id)).to.deep.equal([ids[1], ids[3]].sort());
    expect(team.json!.next).to.equal(null);
    for (const query of ['limit=0', 'limit=1001', 'limit=x', 'cursor=nope', 'team_id=-1'])
      expect((await call('GET', `/api/exports?${query}`)).status, query).to.equal(400);
  });

  it('a query parameter given twice is a 400 naming it, not a filter dropped', async () => {
    // `?team_id=901&team_id=901` listed every team's exports, `?status=Failed&status=Failed` every run.
    const id = (await call('POST', '/api/exports', s3Body({ team_id: 902 }))).json!.id as string;
    for (const [path, field] of [
      ['/api/exports?team_id=902&team_id=902', 'team_id'],
      ['/api/exports?team_id=902&limit=1&limit=2', 'limit'],
      [`/api/exports/${id}/runs?status=Failed&status=Failed`, 'status'],
      [`/api/exports/${id}/runs?start=2024-01-01T00:00:00Z&start=2024-01-02T00:00:00Z`, 'start'],
    ]) {
      const res = await call('GET', path!);
      expect(res.status, path).to.equal(400);
      expect(res.json!.error.details.map((d: { field: string }) => d.field)).to.deep.equal([field]);
    }
  });

  it('a run of a deleted export is 404 at once, as its export, not until the clean-up removes it', async () => {
    const id = (await call('POST', '/api/exports', s3Body())).json!.id as string;
    const bf = await call('POST', `/api/exports/${id}/backfills`, {
      start_at: '2024-01-01T00:00:00Z',
      end_at: '2024-01-01T01:00:00Z',
    });
    expect(bf.status, bf.text).to.equal(201);
    const runId = `${id}-20240101T000000Z`;
    expect((await call('GET', `/api/exports/${id}/runs/${runId}`)).status).to.equal(200);
    expect((await call('DELETE', `/api/exports/${id}`)).status).to.equal(204);
    const answers = [];
    for (const [method, path] of [
      ['GET', ''],
      ['GET', '/logs'],
      ['POST', '/cancel'],
      ['POST', '/retry'],
    ] as const) {
      answers.push(`${method} ${path} ${(await call(method, `/api/exports/${id}/runs/${runId}${path}`)).status}`);
    }
    expect(answers).to.deep.equal(['GET  404', 'GET /logs 404', 'POST /cancel 404', 'POST /retry 404']);
  });

  it('answers 404 for every id it did not give out, before it reaches Redis', async () => {
    const id = (await call('POST', '/api/exports', s3Body())).json!.id as string;
    const bf = await call('POST', `/api/exports/${id}/backfills`, {
      start_at: '2024-01-01T00:00:00Z',
      end_at: '2024-01-01T01:00:00Z',
    });
    for (const path of [
      `/api/exports/${id}/backfills/${bf.json!.id as string}:runs`,
      `/api/exports/${id}/backfills/${bf.json!.id as string}-x`,
      `/api/exports/${id}:x`,
      `/api/exports/${id}/runs/${id}-20240101T000000Z:state`,
      `/api/exports/${id}/runs/${id}`,
      `/api/exports/${id}/runs/${id}-20240101T000000Z/logs/x`,
      `/api/exports/${encodeURIComponent('../../x')}`,
      `/api/exports/${'a'.repeat(5000)}`,
      // Not even percent-encoding (it was 400 with no field named).
      '/api/exports/%E0%A4%A',
      `/api/exports/${id}/runs/%ff`,
      `/api/exports/${id}/backfills/%`,
    ]) {
      const res = await call('GET', path);
      expect(res.status, path).to.equal(404);
      expect(res.json!.error.code, path).to.equal('not_found');
    }
  });
});
