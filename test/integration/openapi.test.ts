import { expect } from 'chai';
import { openApiDocument } from '@bx/api';
import { runIdFor } from '@bx/core';
import { Scheduler } from '@bx/scheduler';
import { ApiHarness, TOKEN, type HttpResult } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { OpenApiValidator } from '../helpers/openapi-validator';
import { createBucket, testS3Client } from '../helpers/s3';
import { TestPostgres, destinationConfig } from '../helpers/postgres';

/** Every path of the contract's HTTP admin API table. */
const CONTRACT_PATHS = [
  'GET /healthz',
  'GET /metrics',
  'POST /api/exports',
  'GET /api/exports',
  'GET /api/exports/{id}',
  'PATCH /api/exports/{id}',
  'DELETE /api/exports/{id}',
  'POST /api/exports/{id}/pause',
  'POST /api/exports/{id}/unpause',
  'POST /api/exports/{id}/test',
  'GET /api/exports/{id}/runs',
  'POST /api/exports/{id}/runs/{run_id}/retry',
  'POST /api/exports/{id}/runs/{run_id}/cancel',
  'POST /api/exports/{id}/backfills',
  'GET /api/exports/{id}/backfills/{backfill_id}',
  'GET /api/exports/{id}/runs/{run_id}',
  'GET /api/exports/{id}/reconciliation',
  'GET /api/exports/{id}/runs/{run_id}/logs',
  'POST /api/exports/{id}/backfills/{backfill_id}/cancel',
  'GET /admin/queues',
];
const HOUR = 3600_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');

/** Real responses of the API, each validated against /api/openapi.json. */
describe('OpenAPI document', () => {
  let api: ApiHarness;
  let doc: typeof openApiDocument;
  let sut: OpenApiValidator;
  let bucket: string;
  const missingRoutes = new Set<string>();

  /** Calls `template` with `params` filled in and validates the response against the document. */
  const op = async (
    method: string,
    template: string,
    params: Record<string, string> = {},
    opts: Parameters<ApiHarness['call']>[2] & { query?: string } = {},
  ): Promise<HttpResult> => {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name]!));
    const res = await api.call(method, path + (opts.query ?? ''), opts);
    if (res.status === 404 && /^no route/.test(res.json?.error?.message ?? '')) {
      missingRoutes.add(`${method} ${template}`);
      return res;
    }
    sut.checkResponse(method, template, res);
    return res;
  };
  const exportBody = (overrides: Record<string, unknown> = {}) => ({
    name: 'openapi',
    team_id: 3,
    interval: 'hour',
    start_at: '2024-01-01T00:00:00Z',
    destination: {
      type: 'S3',
      config: { bucket_name: bucket, endpoint_url: testEnv.S3_ENDPOINT_URL, prefix: 'x/{year}', ...S3_CREDENTIALS },
    },
    ...overrides,
  });
  const create = async (overrides: Record<string, unknown> = {}) => {
    const body = exportBody(overrides);
    sut.checkRequest('POST', '/api/exports', body);
    const res = await op('POST', '/api/exports', {}, { body });
    expect(res.status).to.equal(201);
    return res.json.id as string;
  };

  before(async () => {
    api = await new ApiHarness({ clock: () => T0 + 3.5 * HOUR }).start();
    bucket = await createBucket(testS3Client());
    const served = await api.call('GET', '/api/openapi.json');
    expect(served.status).to.equal(200);
    doc = served.json;
    sut = new OpenApiValidator(doc as never);
  });
  after(() => api.close());

  it('is served at /api/openapi.json with the token, and documents every path of the contract', async () => {
    expect(doc.openapi).to.match(/^3\.1\./);
    expect(doc).to.deep.equal(JSON.parse(JSON.stringify(openApiDocument)));
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => k !== 'parameters')
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented).to.include.members(CONTRACT_PATHS);
    expect((await op('GET', '/api/openapi.json', {}, { token: null })).status).to.equal(401);
    await op('GET', '/api/openapi.json');
  });

  it('declares every path parameter, and 401 on every token-protected operation', () => {
    for (const [path, item] of Object.entries(doc.paths) as Array<[string, any]>) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, operation] of Object.entries(item).filter(([k]) => k !== 'parameters') as any) {
        const declared = [...(item.parameters ?? []), ...(operation.parameters ?? [])]
          .filter((p: { in: string }) => p.in === 'path')
          .map((p: { name: string }) => p.name);
        expect(declared, `${method} ${path}`).to.have.members(names);
        if (path.startsWith('/api/')) expect(operation.responses, `${method} ${path}`).to.have.property('401');
      }
    }
  });

  it('matches health, metrics and export responses', async () => {
    expect((await op('GET', '/healthz', {}, { token: null })).status).to.equal(200);
    expect((await op('GET', '/metrics', {}, { token: null })).status).to.equal(200);

    const id = await create();
    expect((await op('POST', '/api/exports', {}, { body: exportBody({ interval: 'monthly' }) })).status).to.equal(400);
    expect((await op('POST', '/api/exports', {}, { body: '{"name":' })).status).to.equal(400);
    expect((await op('POST', '/api/exports', {}, { body: exportBody(), token: 'wrong' })).status).to.equal(401);
    const huge = JSON.stringify({ name: 'x'.repeat(2_000_000) });
    expect((await op('POST', '/api/exports', {}, { body: huge })).status).to.equal(413);

    expect((await op('GET', '/api/exports', {}, { query: '?team_id=3' })).json.results).to.have.length(1);
    expect((await op('GET', '/api/exports', {}, { query: '?team_id=abc' })).status).to.equal(400);
    expect((await op('GET', '/api/exports/{id}', { id })).status).to.equal(200);
    expect((await op('GET', '/api/exports/{id}', { id: 'nope' })).status).to.equal(404);

    const patch = { name: 'renamed', destination: { config: { prefix: 'y/{month}' } } };
    sut.checkRequest('PATCH', '/api/exports/{id}', patch);
    expect((await op('PATCH', '/api/exports/{id}', { id }, { body: patch })).status).to.equal(200);
    expect((await op('PATCH', '/api/exports/{id}', { id }, { body: { interval: 'x' } })).status).to.equal(400);
    expect((await op('PATCH', '/api/exports/{id}', { id: 'nope' }, { body: patch })).status).to.equal(404);

    expect((await op('POST', '/api/exports/{id}/pause', { id })).json.paused).to.equal(true);
    sut.checkRequest('POST', '/api/exports/{id}/unpause', { backfill: true });
    expect((await op('POST', '/api/exports/{id}/unpause', { id }, { body: { backfill: true } })).status).to.equal(200);
    expect((await op('POST', '/api/exports/{id}/pause', { id: 'nope' })).status).to.equal(404);
    expect((await op('POST', '/api/exports/{id}/unpause', { id: 'nope' })).status).to.equal(404);

    expect((await op('POST', '/api/exports/{id}/test', { id })).json.status).to.equal('ok');
    const broken = await create({
      destination: { type: 'S3', config: { ...exportBody().destination.config, bucket_name: 'no-such-bucket-oa' } },
    });
    expect((await op('POST', '/api/exports/{id}/test', { id: broken })).json.status).to.equal('error');
    expect((await op('POST', '/api/exports/{id}/test', { id: 'nope' })).status).to.equal(404);

    expect((await op('DELETE', '/api/exports/{id}', { id: broken })).status).to.equal(204);
    expect((await op('DELETE', '/api/exports/{id}', { id: broken })).status).to.equal(404);
  });

  it('documents the Postgres destination: its request, its response without the password, its test', async () => {
    const pg = await new TestPostgres().setup();
    try {
      const config = { ...destinationConfig(pg.schema, 'events'), sslmode: 'disable' };
      const id = await create({ destination: { type: 'Postgres', config } });
      const res = await op('GET', '/api/exports/{id}', { id });
      expect(res.json.destination.type).to.equal('Postgres');
      expect(res.json.destination.config).to.not.have.property('password');
      const schema = (doc as unknown as { components: { schemas: Record<string, { properties: object }> } }).components
        .schemas;
      expect(Object.keys(schema.PostgresConfig!.properties)).to.not.include('password');
      expect((await op('POST', '/api/exports/{id}/test', { id })).json.status).to.equal('ok');
      // Moving it to another server (or user) needs the password again.
      const moved = await op(
        'PATCH',
        '/api/exports/{id}',
        { id },
        { body: { destination: { config: { port: 6543 } } } },
      );
      expect(moved.status).to.equal(400);
      expect(moved.json.error.code).to.equal('secrets_required');
      const renamed = { destination: { config: { table_name: 'events_2' } } };
      expect((await op('PATCH', '/api/exports/{id}', { id }, { body: renamed })).status).to.equal(200);
      const bad = { destination: { type: 'Postgres', config: { ...config, sslmode: 'prefer' } } };
      const refused = await op('POST', '/api/exports', {}, { body: exportBody(bad) });
      expect(refused.status).to.equal(400);
      expect(refused.json.error.details[0].field).to.equal('destination.config.sslmode');
    } finally {
      await pg.drop();
    }
  });

  it('matches runs in every state, and the run actions and backfills where they exist', async () => {
    const id = await create();
    await new Scheduler({ store: api.store, queue: api.queue, logger: api.logger, settleMs: 0 }).tick(T0 + 3.5 * HOUR);
    const [first, second, third] = [0, 1, 2].map((i) => runIdFor(id, T0 + i * HOUR));
    await api.store.runs.start(first!);
    const receipt = {
      records: 12,
      checksum: '18446744073709551615',
      min_inserted_at: '2024-01-01T00:00:01+00:00',
      max_inserted_at: '2024-01-01T00:59:59+00:00',
      files: ['x/2024/a.jsonl'],
      version: 1,
    };
    await api.store.runs.complete(first!, { records: 12, bytes: 345, files: ['x/2024/a.jsonl'], receipt });
    await api.store.runs.start(second!);
    await api.store.runs.fail(second!, 'Failed', 'NoSuchBucket: gone');

    const runs = await op('GET', '/api/exports/{id}/runs', { id }, { query: '?limit=2' });
    expect(runs.json.next).to.be.a('string');
    const all = await op('GET', '/api/exports/{id}/runs', { id });
    expect(all.json.results.map((r: { status: string }) => r.status)).to.deep.equal([
      'Scheduled',
      'Failed',
      'Completed',
    ]);
    expect((await op('GET', '/api/exports/{id}', { id })).json.latest_runs).to.have.length(3);
    expect((await op('GET', '/api/exports/{id}/runs', { id }, { query: '?limit=5000' })).status).to.equal(400);
    expect((await op('GET', '/api/exports/{id}/runs', { id: 'nope' })).status).to.equal(404);

    const cancel = '/api/exports/{id}/runs/{run_id}/cancel';
    const retry = '/api/exports/{id}/runs/{run_id}/retry';
    if ((await op('POST', cancel, { id, run_id: third! })).status !== 404) {
      expect((await op('POST', cancel, { id, run_id: first! })).status).to.equal(409);
      expect((await op('POST', cancel, { id, run_id: 'nope' })).status).to.equal(404);
    }
    if ((await op('POST', retry, { id, run_id: second! })).status !== 404) {
      expect((await op('POST', retry, { id, run_id: 'nope' })).status).to.equal(404);
    }
    const backfill = { start_at: '2024-01-01T00:00:00Z', end_at: '2024-01-01T02:00:00Z', force: true };
    sut.checkRequest('POST', '/api/exports/{id}/backfills', backfill);
    const created = await op('POST', '/api/exports/{id}/backfills', { id }, { body: backfill });
    const backfillId = created.status === 201 ? (created.json.id as string) : 'none';
    const got = await op('GET', '/api/exports/{id}/backfills/{backfill_id}', { id, backfill_id: backfillId });
    if (created.status !== 404) {
      expect(got.status).to.equal(200);
      expect((await op('POST', '/api/exports/{id}/backfills', { id }, { body: {} })).status).to.equal(400);
      const plan = { ...backfill, dry_run: true };
      sut.checkRequest('POST', '/api/exports/{id}/backfills', plan);
      expect((await op('POST', '/api/exports/{id}/backfills', { id }, { body: plan })).status).to.equal(200);
      expect((await op('GET', '/api/exports/{id}/backfills', { id })).json.results).to.have.length(1);
      const cancel = '/api/exports/{id}/backfills/{backfill_id}/cancel';
      const cancelled = await op('POST', cancel, { id, backfill_id: backfillId });
      expect(cancelled.json.status, JSON.stringify(cancelled.json)).to.equal('Cancelled');
      expect((await op('POST', cancel, { id, backfill_id: 'nope' })).status).to.equal(404);
    }
    const one = await op('GET', '/api/exports/{id}/runs/{run_id}', { id, run_id: first! });
    expect(one.json.receipt).to.deep.equal(receipt);
    expect((await op('GET', '/api/exports/{id}/runs/{run_id}', { id, run_id: second! })).json.receipt).to.equal(null);
    await api.store.reconciliation.record(
      id,
      [
        {
          start: T0,
          end: T0 + HOUR,
          status: 'mismatch',
          sourceRecords: 13,
          exportedRecords: 12,
          checkedAt: T0 + 3 * HOUR,
          version: 1,
        },
      ],
      1,
    );
    const reconciliation = await op('GET', '/api/exports/{id}/reconciliation', { id });
    expect(reconciliation.json.results).to.deep.equal([
      {
        data_interval_start: '2024-01-01T00:00:00.000Z',
        data_interval_end: '2024-01-01T01:00:00.000Z',
        source_records: 13,
        exported_records: 12,
        status: 'mismatch',
        checked_at: '2024-01-01T03:00:00.000Z',
      },
    ]);
    expect((await op('GET', '/api/exports/{id}/reconciliation', { id: 'nope' })).status).to.equal(404);
    expect((await op('GET', '/api/exports/{id}/runs/{run_id}', { id, run_id: 'nope' })).status).to.equal(404);
    await api.store.runLogs.append(first!, [
      { timestamp: new Date(T0).toISOString(), level: 'info', message: 'run started' },
    ]);
    const logs = await op('GET', '/api/exports/{id}/runs/{run_id}/logs', { id, run_id: first! });
    expect(logs.json.results).to.have.length(1);
  });

  it('matches the Bull Board and login responses', async () => {
    const html = { accept: 'text/html' };
    expect((await op('GET', '/admin/queues', {}, { headers: html })).status).to.equal(200);
    expect((await op('GET', '/admin/queues', {}, { token: null, headers: html })).status).to.equal(303);
    expect((await op('GET', '/admin/queues', {}, { token: 'wrong' })).status).to.equal(401);
    expect((await op('GET', '/admin/login', {}, { token: null })).status).to.equal(200);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const login = (token: string) =>
      op('POST', '/admin/login', {}, { token: null, headers: form, body: new URLSearchParams({ token }).toString() });
    const session = await login(TOKEN);
    expect(session.status).to.equal(303);
    expect((await login('wrong')).status).to.equal(401);
    const cookie = session.headers.get('set-cookie')!.split(';')[0]!;
    const current = await op('GET', '/admin/session', {}, { token: null, headers: { cookie } });
    expect(current.status).to.equal(200);
    expect((await op('GET', '/admin/session', {}, { token: null })).status).to.equal(401);
    const logout = (csrf: string) =>
      op('POST', '/admin/logout', {}, { token: null, headers: { ...form, cookie }, body: `_csrf=${csrf}` });
    expect((await logout('wrong')).status).to.equal(403);
    expect((await logout(current.json.csrf_token)).status).to.equal(303);
  });

  it('saw every documented operation whose route exists in this build', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => k !== 'parameters')
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    const unseen = documented.filter((o) => !sut.seen.has(o) && !missingRoutes.has(o));
    expect(unseen).to.deep.equal([]);
  });
});
