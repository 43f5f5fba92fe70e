import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';

const HOUR = 3_600_000;

/** Every route of the admin API, with its path parameters in braces. */
const ROUTES: Array<[method: string, path: string]> = [
  ['GET', '/api/exports'],
  ['POST', '/api/exports'],
  ['GET', '/api/exports/{id}'],
  ['PATCH', '/api/exports/{id}'],
  ['POST', '/api/exports/{id}/pause'],
  ['POST', '/api/exports/{id}/unpause'],
  ['POST', '/api/exports/{id}/test'],
  ['GET', '/api/exports/{id}/runs'],
  ['POST', '/api/exports/{id}/runs/{run_id}/retry'],
  ['POST', '/api/exports/{id}/runs/{run_id}/cancel'],
  ['POST', '/api/exports/{id}/backfills'],
  ['GET', '/api/exports/{id}/backfills/{backfill_id}'],
  ['DELETE', '/api/exports/{id}'],
];

/** Path segments the API never gave out, as they would be written into a URL. */
const HOSTILE_SEGMENTS = [
  'x',
  '..',
  '%2e%2e',
  '.',
  '%2F',
  '%00',
  '%E0%A4%A',
  '%ff',
  '__proto__',
  'constructor',
  '*',
  'a%20b',
  '%F0%9F%92%A9',
  '{}',
  'x'.repeat(10_000),
  '00000000-0000-0000-0000-00000000000G',
  'AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA',
  '00000000-0000-0000-0000-000000000000-20240101T000000Z%0A',
];

const HOSTILE_BODIES: Array<[what: string, body: string, contentType?: string]> = [
  ['null', 'null'],
  ['array', '[]'],
  ['string', '"x"'],
  ['number', '1e308'],
  ['truncated', '{"name": '],
  ['prototype pollution', '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}'],
  ['operators', '{"name": {"$gt": ""}, "team_id": {"$ne": 0}}'],
  ['deep', '['.repeat(5000) + ']'.repeat(5000)],
  ['deep object', '{"a":'.repeat(3000) + '1' + '}'.repeat(3000)],
  ['huge numbers', '{"team_id": 1e400, "start_at": 99999999999999999999}'],
  ['wrong types', '{"name": 1, "team_id": "x", "interval": [], "destination": "S3", "paused": "yes"}'],
  ['invalid utf-8', '{"name": "\xff\xfe"}'],
  ['text', 'hello', 'text/plain'],
  ['form', 'a=1&b=2', 'application/x-www-form-urlencoded'],
  ['charset', '{}', 'application/json; charset=utf-7'],
  ['backfill dates', '{"start_at": "-271821-04-20T00:00:00Z", "end_at": "+275760-09-13T00:00:00Z", "force": 1}'],
  ['long names', JSON.stringify({ name: 'n'.repeat(100_000), include_events: ['e'.repeat(1000)] })],
];

const HOSTILE_QUERIES = [
  'limit=-1',
  'limit=abc',
  'limit=1e99',
  'limit=1&limit=2',
  'cursor=garbage',
  'status=Nope',
  'team_id=1e99',
  'team_id=-1',
  'team_id[]=1',
  'start=x&end=y',
  'cursor=-271821-04-20',
];

describe('no input makes the API answer 500', function () {
  this.timeout(120_000);
  let sut: ApiHarness;
  const ids: Record<string, string> = {};

  before(async () => {
    sut = await new ApiHarness().start();
    const create = await sut.call('POST', '/api/exports', {
      body: {
        name: 'fuzz',
        team_id: 1,
        interval: 'hour',
        paused: true,
        destination: {
          type: 'S3',
          config: { bucket_name: 'bx-fuzz-bucket', endpoint_url: testEnv.S3_ENDPOINT_URL, ...S3_CREDENTIALS },
        },
      },
    });
    expect(create.status).to.equal(201);
    ids.id = create.json.id;
    const start = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    const backfill = await sut.call('POST', `/api/exports/${ids.id}/backfills`, {
      body: { start_at: new Date(start).toISOString(), end_at: new Date(start + HOUR).toISOString() },
    });
    expect(backfill.status).to.equal(201);
    ids.backfill_id = backfill.json.id;
    ids.run_id = `${ids.id}-${new Date(start).toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
  });
  after(() => sut.close());

  const fill = (path: string, values: Record<string, string>) =>
    path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? ids[name]!);

  it('GET .../backfills/<id>:runs is 404 (it read a Redis list as a hash: 500 WRONGTYPE)', async () => {
    const res = await sut.call('GET', `/api/exports/${ids.id}/backfills/${ids.backfill_id}:runs`);
    expect(res.status).to.equal(404);
    expect(res.json.error.code).to.equal('not_found');
  });

  it('answers 404 for path ids the API never gave out, before they reach Redis', async () => {
    const foreignRun = `${ids.backfill_id}-20240101T000000Z`;
    const suffixes = [':runs', ':x', '/', '%0A', '%00', 'A'];
    const seen: string[] = [];
    for (const [method, path] of ROUTES.filter(([, p]) => p.includes('{'))) {
      for (const param of path.match(/\{(\w+)\}/g)!.map((p) => p.slice(1, -1))) {
        const values = [...HOSTILE_SEGMENTS, ...suffixes.map((s) => `${ids[param]}${s}`)];
        if (param === 'run_id') values.push(foreignRun);
        for (const value of values) {
          const url = fill(path, { [param]: value });
          const res = await sut.call(method, url, method === 'GET' ? {} : { body: {} });
          seen.push(`${res.status} ${method} ${url.slice(0, 120)}`);
          // A trailing slash is the same route to Express, and fetch resolves `.` and `..` itself:
          // those reach other routes, which must still not fail.
          const resolved = new URL(url, sut.base).pathname !== url;
          if (value === `${ids[param]}/` || resolved) expect(res.status, `${method} ${url}`).to.be.below(500);
          else expect(res.status, `${method} ${url}: ${res.text.slice(0, 200)}`).to.be.oneOf([400, 404]);
        }
      }
    }
    expect(seen.length).to.be.greaterThan(200);
  });

  it('answers every hostile body with a 4xx', async () => {
    // DELETE last: the export must stay for the other routes.
    for (const [method, path] of ROUTES.filter(([m]) => m !== 'GET' && m !== 'DELETE')) {
      for (const [what, body, contentType] of HOSTILE_BODIES) {
        const res = await sut.call(method, fill(path, {}), {
          body,
          headers: { 'content-type': contentType ?? 'application/json' },
        });
        expect(res.status, `${method} ${path} with ${what}: ${res.text.slice(0, 300)}`).to.be.within(200, 499);
        if (res.status >= 400) expect(res.json?.error?.code, `${method} ${path} with ${what}`).to.be.a('string');
      }
    }
    expect(({} as Record<string, unknown>).admin, 'Object.prototype is untouched').to.equal(undefined);
  });

  it('answers every hostile query with a 4xx or 200', async () => {
    for (const [method, path] of ROUTES.filter(([m]) => m === 'GET')) {
      for (const query of HOSTILE_QUERIES) {
        const res = await sut.call(method, `${fill(path, {})}?${query}`);
        expect(res.status, `${method} ${path}?${query}: ${res.text.slice(0, 300)}`).to.be.within(200, 499);
      }
    }
  });

  it('answers hostile admin and Bull Board requests without a 500', async () => {
    const requests: Array<[string, string, string?]> = [
      ['GET', '/admin/login?next=%E0%A4%A'],
      ['GET', `/admin/login?next=${'x'.repeat(10_000)}`],
      ['POST', '/admin/login', 'token=%E0%A4%A'],
      ['POST', '/admin/login', `token=${'x'.repeat(5000)}`],
      ['POST', '/admin/logout', '_csrf=%00'],
      ['GET', '/admin/session'],
      ['GET', '/admin/queues/api/queues/no-such-queue/metrics'],
      ['GET', '/admin/queues/api/queues/export-runs/%E0%A4%A'],
      ['GET', '/admin/queues/api/queues/export-runs/..%2F..%2Fetc'],
      ['PUT', '/admin/queues/api/queues/no-such-queue/retry/failed'],
      ['GET', '/admin/queues/api/queues?activeQueue=%00&status=x&page=-1&jobsPerPage=1e99'],
      ['GET', '/healthz?x=%00'],
    ];
    for (const [method, path, form] of requests) {
      const res = await sut.call(method, path, {
        token: path.startsWith('/admin/queues') ? undefined : null,
        body: form,
        headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      });
      expect(res.status, `${method} ${path.slice(0, 100)}: ${res.text.slice(0, 200)}`).to.be.below(500);
    }
  });
});
