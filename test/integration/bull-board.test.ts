import { expect } from 'chai';
import { BOARD_JOBS_PER_PAGE_MAX } from '@bx/api';
import { ApiHarness, TOKEN, type HttpResult } from '../helpers/api-harness';

const QUEUES_API = '/admin/queues/api/queues';
const run = { run_id: 'r1', export_id: 'e1', data_interval_start: 0, data_interval_end: 3600_000 };

describe('Bull Board at /admin/queues', () => {
  describe('authentication', () => {
    let sut: ApiHarness;
    before(async () => {
      sut = await new ApiHarness().start();
    });
    after(() => sut.close());

    const login = (token: string, next?: string) =>
      sut.call('POST', '/admin/login', {
        token: null,
        body: new URLSearchParams({ token, ...(next ? { next } : {}) }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
    const cookieOf = (res: HttpResult) => res.headers.get('set-cookie')!.split(';')[0]!;

    it('401 without credentials for API calls, a redirect to the login form for pages', async () => {
      const api = await sut.call('GET', QUEUES_API, { token: null });
      expect(api.status).to.equal(401);
      expect(api.json.error.code).to.equal('unauthorized');
      const page = await sut.call('GET', '/admin/queues/queue/export-runs', {
        token: null,
        headers: { accept: 'text/html,application/xhtml+xml' },
      });
      expect(page.status).to.equal(303);
      expect(page.headers.get('location')).to.equal('/admin/login?next=%2Fadmin%2Fqueues%2Fqueue%2Fexport-runs');
    });

    it('401 with a wrong bearer token, pages included', async () => {
      expect((await sut.call('GET', QUEUES_API, { token: 'wrong-token' })).status).to.equal(401);
      const page = await sut.call('GET', '/admin/queues', { token: 'wrong-token', headers: { accept: 'text/html' } });
      expect(page.status).to.equal(401);
    });

    it('serves the board and its API to the bearer token, listing every queue', async () => {
      const page = await sut.call('GET', '/admin/queues', { headers: { accept: 'text/html' } });
      expect(page.status).to.equal(200);
      expect(page.text).to.contain('<base href="/admin/queues/"');
      const api = await sut.call('GET', QUEUES_API);
      expect(api.status).to.equal(200);
      expect(api.json.queues.map((q: { name: string }) => q.name)).to.deep.equal([
        'export-runs',
        'export-runs-dead-letter',
      ]);
      expect(api.json.queues[0]).to.include({ name: 'export-runs', readOnlyMode: false });
    });

    it('logs a browser in with the token: an HttpOnly SameSite=Strict cookie that does not contain it', async () => {
      const form = await sut.call('GET', '/admin/login?next=%2Fadmin%2Fqueues%2Fqueue%2Fexport-runs', { token: null });
      expect(form.status).to.equal(200);
      expect(form.text).to.contain('<form method="post" action="/admin/login">');
      expect(form.text).to.contain('value="/admin/queues/queue/export-runs"');

      const res = await login(TOKEN, '/admin/queues/queue/export-runs');
      expect(res.status).to.equal(303);
      expect(res.headers.get('location')).to.equal('/admin/queues/queue/export-runs');
      const setCookie = res.headers.get('set-cookie')!;
      expect(setCookie).to.match(/^bx_admin_session=[A-Za-z0-9_-]{43};/);
      expect(setCookie).to.contain('HttpOnly').and.to.contain('SameSite=Strict').and.to.contain('Path=/admin');
      expect(setCookie).to.not.contain(TOKEN);

      const cookie = cookieOf(res);
      const api = await sut.call('GET', QUEUES_API, { token: null, headers: { cookie } });
      expect(api.status).to.equal(200);
      expect(api.json.queues[0].name).to.equal('export-runs');
      const page = await sut.call('GET', '/admin/queues', { token: null, headers: { cookie, accept: 'text/html' } });
      expect(page.status).to.equal(200);
      expect(
        (await sut.call('GET', '/api/exports', { token: null, headers: { cookie } })).status,
        'the session is for /admin pages only',
      ).to.equal(401);
    });

    it('refuses a wrong token with a 401 page and no cookie, and a forged cookie', async () => {
      const res = await login('not-the-token-at-all');
      expect(res.status).to.equal(401);
      expect(res.headers.get('content-type')).to.contain('text/html');
      expect(res.text).to.contain('not the admin API token');
      expect(res.headers.get('set-cookie')).to.equal(null);

      const good = cookieOf(await login(TOKEN)).split('=')[1]!;
      const forgeries = [`${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`, 'A'.repeat(43), TOKEN, ''];
      for (const forged of forgeries) {
        const api = await sut.call('GET', QUEUES_API, {
          token: null,
          headers: { cookie: `bx_admin_session=${forged}` },
        });
        expect(api.status, forged).to.equal(401);
      }
    });

    it('only redirects to admin pages after login', async () => {
      for (const next of ['https://evil.example/', '//evil.example/admin/queues', '/api/exports']) {
        expect((await login(TOKEN, next)).headers.get('location'), next).to.equal('/admin/exports');
      }
    });
  });

  for (const readOnly of [false, true]) {
    describe(`BULL_BOARD_READ_ONLY=${readOnly}`, () => {
      let sut: ApiHarness;
      before(async () => {
        sut = await new ApiHarness({ bullBoardReadOnly: readOnly }).start();
      });
      after(() => sut.close());

      it(readOnly ? 'shows the queue but refuses changes' : 'lets an operator change the queue', async () => {
        await sut.queue.enqueue([run]);
        const queues = await sut.call('GET', QUEUES_API);
        expect(queues.json.queues[0]).to.include({ readOnlyMode: readOnly });
        expect(queues.json.queues[0].counts.waiting).to.equal(1);

        const empty = await sut.call('PUT', '/admin/queues/api/queues/export-runs/empty');
        expect(empty.status).to.equal(readOnly ? 405 : 200);
        const clean = await sut.call('PUT', '/admin/queues/api/queues/export-runs/clean/completed');
        expect(clean.status).to.equal(readOnly ? 405 : 200);
        expect((await sut.queue.jobCounts())[0]!.counts.waiting).to.equal(readOnly ? 1 : 0);
        // A job's Retry goes through the run records: r1 is no run the API gave out.
        const retry = await sut.call('PUT', '/admin/queues/api/queues/export-runs/r1/retry');
        expect(retry.status).to.equal(readOnly ? 405 : 404);
        // The run records' answer (the API's error shape), not Bull Board's own "job not found".
        if (!readOnly) expect(retry.json?.error?.code, retry.text).to.equal('not_found');
      });
    });
  }
});

describe('Bull Board hardening', () => {
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(() => sut.close());

  const sessionCookie = async () => {
    const res = await sut.call('POST', '/admin/login', {
      token: null,
      body: new URLSearchParams({ token: TOKEN }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    return res.headers.get('set-cookie')!.split(';')[0]!;
  };
  const paused = async () => (await sut.call('GET', QUEUES_API)).json.queues[0].isPaused as boolean;
  const PAUSE = '/admin/queues/api/queues/export-runs/pause';
  const RESUME = '/admin/queues/api/queues/export-runs/resume';

  it('refuses a cookie-authenticated change sent from another site', async () => {
    const cookie = await sessionCookie();
    const host = new URL(sut.base).host;
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: `http://${host}` },
    ];
    for (const headers of foreign) {
      const res = await sut.call('PUT', PAUSE, { token: null, headers: { cookie, ...headers } });
      expect(res.status, JSON.stringify(headers)).to.equal(403);
      expect(res.json.error.code).to.equal('cross_site');
    }
    expect(await paused(), 'no refused request paused the queue').to.equal(false);

    // The board's own page: same origin.
    const own = await sut.call('PUT', PAUSE, {
      token: null,
      headers: { cookie, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status).to.equal(200);
    expect(await paused()).to.equal(true);
    // Scripts with the bearer token are not browsers: no Origin rules for them.
    expect((await sut.call('PUT', RESUME, { headers: { origin: 'https://elsewhere.example' } })).status).to.equal(200);
    expect(await paused()).to.equal(false);
  });

  it('closes the routes that add jobs or rewrite job data', async () => {
    const job = { run_id: 'r2', export_id: 'e2', data_interval_start: 0, data_interval_end: 3600_000 };
    await sut.queue.enqueue([job]);
    const before = (await sut.call('GET', '/admin/queues/api/queues/export-runs/r2')).json.job.data;
    const add = await sut.call('POST', '/admin/queues/api/queues/export-runs/add', {
      body: { name: 'run', data: { ...job, run_id: 'forged' }, options: {} },
    });
    expect(add.status).to.equal(405);
    expect(add.json.error.code).to.equal('method_not_allowed');
    const edit = await sut.call('PATCH', '/admin/queues/api/queues/export-runs/r2/update-data', {
      body: { jobData: { ...job, export_id: 'another' } },
    });
    expect(edit.status).to.equal(405);
    const counts = (await sut.queue.jobCounts())[0]!.counts;
    expect(counts.waiting + counts.prioritized).to.equal(1);
    const stored = await sut.call('GET', '/admin/queues/api/queues/export-runs/r2');
    expect(stored.json.job.data).to.deep.equal(before);
  });

  it('refuses a job listing larger than its own page size cap, and lists up to it', async () => {
    const jobs = Array.from({ length: BOARD_JOBS_PER_PAGE_MAX + 1 }, (_, i) => ({ ...run, run_id: `many-${i}` }));
    await sut.queue.enqueue(jobs);
    const listing = (perPage: number) =>
      sut.call('GET', `${QUEUES_API}?activeQueue=export-runs&status=waiting&jobsPerPage=${perPage}`);

    const huge = await listing(1_000_000);
    expect(huge.status, huge.text.slice(0, 300)).to.equal(400);
    expect(huge.json.error.details).to.deep.equal([
      { field: 'jobsPerPage', message: `must be at most ${BOARD_JOBS_PER_PAGE_MAX}` },
    ]);
    const most = await listing(BOARD_JOBS_PER_PAGE_MAX);
    expect(most.status).to.equal(200);
    expect(most.json.queues.find((q: { name: string }) => q.name === 'export-runs').jobs).to.have.length(
      BOARD_JOBS_PER_PAGE_MAX,
    );
  });

  it('answers a queue name that is not percent-encoding with a 400 naming it, not a 500', async () => {
    for (const [path, field] of [
      [`${QUEUES_API}?activeQueue=%25`, 'activeQueue'],
      [`${QUEUES_API}?activeQueue=%25E0%25A4%25A`, 'activeQueue'],
      ['/admin/queues/api/job-schedulers?queueName=%25', 'queueName'],
    ] as const) {
      const res = await sut.call('GET', path);
      expect(res.status, `${path}: ${res.text.slice(0, 200)}`).to.equal(400);
      expect(res.json.error.code).to.equal('invalid_input');
      expect(res.json.error.details[0].field).to.equal(field);
    }
  });

  it('does not show Redis server internals', async () => {
    const res = await sut.call('GET', '/admin/queues/api/redis/stats');
    expect(res.status).to.equal(403);
    for (const internal of ['version', 'memory', 'clients', 'uptime', 'os', 'port']) {
      expect(res.text, internal).to.not.contain(`"${internal}"`);
    }
  });
});
