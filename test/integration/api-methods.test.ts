import { expect } from 'chai';
import { openApiDocument } from '@bx/api';
import { ApiHarness } from '../helpers/api-harness';

const ID = '0b5c3e8e-1f0a-4c8e-9d3a-2f1e4b6a7c90';
const RUN = `${ID}-20240101T000000Z`;
const BACKFILL = '7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';

/** Every route of the app but Bull Board's, with the methods it takes; the others must answer 405. */
const ROUTES: Array<{ path: string; methods: string[]; token: boolean }> = [
  { path: '/healthz', methods: ['GET'], token: false },
  { path: '/metrics', methods: ['GET'], token: false },
  { path: '/admin/login', methods: ['GET', 'POST'], token: false },
  { path: '/admin/logout', methods: ['POST'], token: false },
  { path: '/admin/session', methods: ['GET'], token: false },
  { path: '/api/openapi.json', methods: ['GET'], token: true },
  { path: '/api/exports', methods: ['GET', 'POST'], token: true },
  { path: '/api/exports/{id}', methods: ['GET', 'PATCH', 'DELETE'], token: true },
  { path: '/api/exports/{id}/pause', methods: ['POST'], token: true },
  { path: '/api/exports/{id}/unpause', methods: ['POST'], token: true },
  { path: '/api/exports/{id}/test', methods: ['POST'], token: true },
  { path: '/api/exports/{id}/runs', methods: ['GET'], token: true },
  { path: '/api/exports/{id}/reconciliation', methods: ['GET'], token: true },
  { path: '/api/exports/{id}/runs/{run_id}', methods: ['GET'], token: true },
  { path: '/api/exports/{id}/runs/{run_id}/logs', methods: ['GET'], token: true },
  { path: '/api/exports/{id}/runs/{run_id}/retry', methods: ['POST'], token: true },
  { path: '/api/exports/{id}/runs/{run_id}/cancel', methods: ['POST'], token: true },
  { path: '/api/exports/{id}/backfills', methods: ['GET', 'POST'], token: true },
  { path: '/api/exports/{id}/backfills/{backfill_id}', methods: ['GET'], token: true },
  { path: '/api/exports/{id}/backfills/{backfill_id}/cancel', methods: ['POST'], token: true },
];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const url = (path: string) => path.replace('{id}', ID).replace('{run_id}', RUN).replace('{backfill_id}', BACKFILL);
/** `Allow` as the API sends it: GET routes also answer HEAD. */
const allowOf = (methods: string[]) => [...methods, ...(methods.includes('GET') ? ['HEAD'] : [])].sort().join(', ');

describe('a known path with a method it does not take', () => {
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(async () => sut.close());

  it('the table lists every route the OpenAPI document describes', () => {
    const documented = Object.entries(openApiDocument.paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => path !== '/admin/queues')
      .map(([path, item]) => ({
        path,
        methods: Object.keys(item)
          .filter((k) => k !== 'parameters')
          .sort(),
      }));
    const table = ROUTES.map((r) => ({ path: r.path, methods: r.methods.map((m) => m.toLowerCase()).sort() }));
    expect(table).to.have.deep.members(documented);
  });

  for (const route of ROUTES) {
    for (const method of METHODS.filter((m) => !route.methods.includes(m))) {
      it(`${method} ${route.path}: 405 with Allow and the error body`, async () => {
        const res = await sut.call(method, url(route.path), { body: method === 'GET' ? undefined : {} });
        expect(res.status, res.text).to.equal(405);
        expect(res.headers.get('allow')).to.equal(allowOf(route.methods));
        expect(res.json.error.code).to.equal('method_not_allowed');
        expect(res.json.error.message).to.contain(method);
        expect(res.json.error.details).to.deep.equal([]);
      });
    }
  }

  it('under /api, no token is 401 before the method is looked at', async () => {
    for (const route of ROUTES.filter((r) => r.token)) {
      const method = METHODS.find((m) => !route.methods.includes(m))!;
      const res = await sut.call(method, url(route.path), { token: null });
      expect(res.status, `${method} ${route.path}`).to.equal(401);
      expect(res.headers.get('allow')).to.equal(null);
    }
  });

  it('OPTIONS names the methods a path takes', async () => {
    for (const route of ROUTES) {
      const res = await sut.call('OPTIONS', url(route.path));
      expect(res.status, route.path).to.equal(204);
      expect(res.headers.get('allow'), route.path).to.equal(allowOf(route.methods));
    }
  });

  it('a wrong method with an id the API never gave out is 404 or 405, never 500', async () => {
    for (const segment of ['x', '%ff', '%E0%A4%A', '%2F', '..', '__proto__', 'x'.repeat(5000)]) {
      for (const path of ['/api/exports/{id}', '/api/exports/{id}/pause', '/api/exports/{id}/runs/{run_id}']) {
        const res = await sut.call('PUT', url(path).replace(ID, segment));
        expect(res.status, `PUT ${path} with ${segment.slice(0, 20)}`).to.be.oneOf([404, 405]);
        expect(res.json.error.code).to.be.oneOf(['not_found', 'method_not_allowed']);
      }
    }
  });

  it('an unknown path is still 404, whatever the method', async () => {
    for (const method of METHODS) {
      const res = await sut.call(method, '/api/nothing-here');
      expect(res.status).to.equal(404);
      expect(res.json.error.code).to.equal('not_found');
    }
  });
});
