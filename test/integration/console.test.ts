import { runIdFor } from '@bx/core';
import { expect } from 'chai';
import { ApiHarness, TOKEN } from '../helpers/api-harness';

/** The console's HTTP side without a browser: login, CSRF, CSP, escaping, secrets. */
describe('web console pages (/admin/exports)', () => {
  let sut: ApiHarness;
  let cookie: string;
  let exportId: string;
  const secret = 'the-secret-value-7731';

  before(async () => {
    sut = await new ApiHarness().start();
    const created = await sut.call('POST', '/api/exports', {
      body: {
        name: '<script>alert("x")</script> & co',
        team_id: 7,
        interval: 'hour',
        destination: {
          type: 'S3',
          config: { bucket_name: 'bucket-one', aws_access_key_id: 'AKIA', aws_secret_access_key: secret },
        },
      },
    });
    exportId = created.json.id;
    const login = await sut.call('POST', '/admin/login', {
      token: null,
      body: `token=${TOKEN}&next=/admin/exports`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(login.headers.get('location')).to.equal('/admin/exports');
    cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  });
  after(() => sut.close());

  const page = (path: string) => sut.call('GET', path, { token: null, headers: { cookie, accept: 'text/html' } });
  const csrfOf = (html: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(html)![1]!;
  const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    sut.call('POST', path, {
      token: null,
      body: new URLSearchParams(form).toString(),
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });

  it('sends a browser without a session to the login form, and back to the console after it', async () => {
    const res = await sut.call('GET', `/admin/exports/${exportId}`, { token: null, headers: { accept: 'text/html' } });
    expect(res.status).to.equal(303);
    expect(res.headers.get('location')).to.equal(
      `/admin/login?next=${encodeURIComponent(`/admin/exports/${exportId}`)}`,
    );
  });

  it('serves pages under a strict Content-Security-Policy, with every value escaped', async () => {
    const res = await page('/admin/exports');
    expect(res.status).to.equal(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).to.contain("script-src 'self'").and.contain("style-src 'self'").and.contain("default-src 'none'");
    expect(csp).to.not.contain('unsafe-inline');
    expect(res.text).to.contain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co');
    expect(res.text).to.not.contain('<script>alert');
    expect(res.text).to.not.match(/<script>(?!<\/script>)|\sstyle=|\son[a-z]+=/i);
    const js = await sut.call('GET', '/admin/console-assets/console.js', { token: null });
    expect(js.status).to.equal(200);
    expect(js.headers.get('content-type')).to.contain('javascript');
  });

  it('never puts a secret into a page', async () => {
    for (const path of [`/admin/exports/${exportId}`, `/admin/exports/${exportId}/edit`, '/admin/exports']) {
      const res = await page(path);
      expect(res.status, path).to.equal(200);
      expect(res.text, path).to.not.contain(secret);
    }
  });

  it('refuses a change without the CSRF token, with a wrong one, or from another origin', async () => {
    const csrf = csrfOf((await page(`/admin/exports/${exportId}`)).text);
    expect((await post(`/admin/exports/${exportId}/pause`, {})).status).to.equal(403);
    expect((await post(`/admin/exports/${exportId}/pause`, { _csrf: `${csrf.slice(0, -2)}xx` })).status).to.equal(403);
    const foreign = await post(`/admin/exports/${exportId}/pause`, { _csrf: csrf }, { origin: 'https://evil.example' });
    expect(foreign.status).to.equal(403);
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.paused).to.equal(false);

    const ok = await post(`/admin/exports/${exportId}/pause`, { _csrf: csrf });
    expect(ok.status).to.equal(303);
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.paused).to.equal(true);
    const viaHeader = await post(`/admin/exports/${exportId}/unpause`, {}, { 'x-csrf-token': csrf });
    expect(viaHeader.status).to.equal(303);
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.paused).to.equal(false);
  });

  it('sends a form posted after the session ended to the login page, saying the change was not made', async () => {
    // It was a raw JSON 401 in the browser's window.
    const from = `${sut.base}/admin/exports/${exportId}?status=Failed&notice=unpaused`;
    const res = await sut.call('POST', `/admin/exports/${exportId}/pause`, {
      token: null,
      body: new URLSearchParams({ _csrf: 'old' }).toString(),
      headers: {
        cookie: `bx_admin_session=${'A'.repeat(43)}`,
        accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
        'content-type': 'application/x-www-form-urlencoded',
        referer: from,
      },
    });
    expect(res.status).to.equal(303);
    const location = new URL(res.headers.get('location')!, sut.base);
    expect(location.pathname).to.equal('/admin/login');
    expect(location.searchParams.get('next'), 'back to the page of the form, without its old notice').to.equal(
      `/admin/exports/${exportId}?status=Failed`,
    );
    const login = await sut.call('GET', `${location.pathname}${location.search}`, { token: null });
    expect(login.text).to.contain('Your session has ended');
    expect(login.text).to.contain(`value="/admin/exports/${exportId}?status=Failed"`);
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.paused).to.equal(false);
    // A page opened with the old cookie: to the login, not told that a change was not made.
    const opened = await sut.call('GET', `/admin/exports/${exportId}`, {
      token: null,
      headers: { cookie: `bx_admin_session=${'A'.repeat(43)}`, accept: 'text/html' },
    });
    expect(opened.status).to.equal(303);
    expect(new URL(opened.headers.get('location')!, sut.base).searchParams.has('ended')).to.equal(false);
    // A referer of another site is not followed.
    const foreign = await sut.call('POST', `/admin/exports/${exportId}/pause`, {
      token: null,
      body: '',
      headers: {
        accept: 'text/html',
        'content-type': 'application/x-www-form-urlencoded',
        referer: 'https://evil.example/admin/exports',
      },
    });
    expect(foreign.status).to.equal(303);
    expect(new URL(foreign.headers.get('location')!, sut.base).searchParams.get('next')).to.equal('/admin/exports');
  });

  it('answers a browser form with an old CSRF token with a page that says so and links back', async () => {
    // A page loaded before logging in again (a new session, a new token) posts the old token: it was raw JSON.
    const from = `${sut.base}/admin/exports/${exportId}`;
    const res = await post(
      `/admin/exports/${exportId}/pause`,
      { _csrf: 'from-an-older-session' },
      { accept: 'text/html,*/*;q=0.8', referer: from },
    );
    expect(res.status).to.equal(403);
    expect(res.headers.get('content-type')).to.contain('text/html');
    expect(res.text).to.contain('reload the page and try again');
    expect(res.text).to.contain(`href="/admin/exports/${exportId}"`);
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.paused).to.equal(false);
  });

  it('takes the bearer token instead of a session, without a CSRF token', async () => {
    const res = await sut.call('POST', `/admin/exports/${exportId}/pause`, { body: {} });
    expect(res.status).to.equal(303);
    await sut.call('POST', `/api/exports/${exportId}/unpause`, { body: {} });
  });

  it('a form that sends a field twice is a 400 naming it, not a 500', async () => {
    const csrf = csrfOf((await page(`/admin/exports/${exportId}/edit`)).text);
    const forms: Array<[string, Array<[string, string]>, string]> = [
      [
        '/admin/exports',
        [
          ['name', 'x'],
          ['team_id', '1'],
          ['team_id', '2'],
          ['interval', 'hour'],
        ],
        'team_id',
      ],
      [
        `/admin/exports/${exportId}/edit`,
        [
          ['name', 'x'],
          ['timezone', 'UTC'],
          ['timezone', 'UTC'],
        ],
        'timezone',
      ],
      [
        `/admin/exports/${exportId}/backfills`,
        [
          ['start_at', '2024-01-01T00:00:00Z'],
          ['start_at', 'x'],
        ],
        'start_at',
      ],
    ];
    for (const [path, fields, field] of forms) {
      const res = await sut.call('POST', path, {
        token: null,
        body: new URLSearchParams([['_csrf', csrf], ...fields]).toString(),
        headers: { cookie, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status, `${path}: ${res.text.slice(0, 200)}`).to.equal(400);
      expect(res.headers.get('content-type'), path).to.contain('text/html');
      expect(res.text, path).to.contain(`${field}: must be given once`);
    }
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.timezone, 'the edit changed nothing').to.equal(
      'UTC',
    );
  });

  it('a team filter that is not a number is a 400 page saying so, with the unfiltered list', async () => {
    // It was a 500: the page rewrote req.query, which Express 5 only reads.
    for (const team of ['x', '1e99', '-1']) {
      const res = await page(`/admin/exports?team=${team}&sort=created`);
      expect(res.status, team).to.equal(400);
      expect(res.headers.get('content-type')).to.contain('text/html');
      expect(res.text).to.contain('team_id: must be an integer');
      expect(res.text).to.contain(`/admin/exports/${exportId}`);
    }
  });

  it('a dry run of any ISO 8601 start the API reads shows its range as the API read it, not a 500', async () => {
    // The page parsed the typed text with Date: a week date, an ordinal date or an hour alone
    // (valid ISO 8601, read by the API) was a 500, and a time without offset was read in the
    // server's time zone where the API reads UTC.
    const dryRun = (start_at: string, end_at: string) =>
      page(`/admin/exports/${exportId}?${String(new URLSearchParams({ start_at, end_at }))}`);
    const shown = (text: string) =>
      /intervals? from\s+(\S+ \S+)\s+to\s+(\S+ \S+)/.exec(text.replace(/<[^>]+>/g, '').replace(/\s+/g, ' '))?.slice(1);
    const cases: Array<[string, string, string[]]> = [
      ['2024-01-01T00:00:00', '2024-01-01T02:00:00', ['2024-01-01 00:00:00', '2024-01-01 02:00:00']],
      ['2024-W01-1', '2024-01-01T03', ['2024-01-01 00:00:00', '2024-01-01 03:00:00']],
      ['2024-001T01', '2024-01-01T03:00:00', ['2024-01-01 01:00:00', '2024-01-01 03:00:00']],
    ];
    const tz = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      for (const [start, end, expected] of cases) {
        const res = await dryRun(start, end);
        expect(res.status, `${start}: ${res.text.slice(0, 200)}`).to.equal(200);
        expect(shown(res.text), start).to.deep.equal(expected);
      }
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });

  it('a refused backfill says the backfill was not started, not that the export was not saved', async () => {
    const res = await page(`/admin/exports/${exportId}?start_at=yesterday&end_at=`);
    expect(res.status).to.equal(400);
    expect(res.text).to.match(/<h2 id="error-summary-title">The backfill was not started<\/h2>/);
    expect(res.text).to.not.contain('The export was not saved');
    expect(res.text).to.contain('is not an ISO 8601 date-time');
  });

  it('a run page names the time zone of its title, and a UTC export shows its intervals once', async () => {
    const kolkata = await sut.call('POST', '/api/exports', {
      body: {
        name: 'kolkata',
        team_id: 7,
        interval: 'hour',
        timezone: 'Asia/Kolkata',
        paused: true,
        destination: {
          type: 'S3',
          config: { bucket_name: 'bucket-one', aws_access_key_id: 'A', aws_secret_access_key: 'B' },
        },
      },
    });
    const start = Date.UTC(2024, 0, 1, 8);
    const runs = [kolkata.json.id as string, exportId].map((id) => ({
      id: runIdFor(id, start),
      export_id: id,
      data_interval_start: start,
      data_interval_end: start + 3_600_000,
    }));
    await sut.store.runs.createMany(runs);
    const run = await page(`/admin/exports/${kolkata.json.id}/runs/${runs[0]!.id}`);
    expect(run.status).to.equal(200);
    expect(run.text).to.match(/<h1>Run 2024-01-01 13:30:00 – 14:30:00 \(Asia\/Kolkata\)<\/h1>/);
    expect(run.text).to.contain('<title>Run 2024-01-01 13:30:00 – 14:30:00 (Asia/Kolkata) ·');
    const utc = await page(`/admin/exports/${exportId}/runs/${runs[1]!.id}`);
    expect(utc.text).to.match(/<h1>Run 2024-01-01 08:00:00 – 09:00:00 \(UTC\)<\/h1>/);
    const list = await page(`/admin/exports/${exportId}`);
    expect(list.text.match(/<th scope="col">Interval \(UTC\)<\/th>/g), 'one interval column').to.have.length(1);
    const local = await page(`/admin/exports/${kolkata.json.id}`);
    expect(local.text).to.contain('<th scope="col">Interval (Asia/Kolkata)</th>');
    expect(local.text).to.contain('<th scope="col">Interval (UTC)</th>');
    await sut.call('DELETE', `/api/exports/${kolkata.json.id}`);
  });

  it("a backfill's progress panel names the range it covers, in the export's time zone", async () => {
    const berlin = await sut.call('POST', '/api/exports', {
      body: {
        name: 'berlin',
        team_id: 7,
        interval: 'hour',
        timezone: 'Europe/Berlin',
        paused: true,
        destination: {
          type: 'S3',
          config: { bucket_name: 'bucket-one', aws_access_key_id: 'A', aws_secret_access_key: 'B' },
        },
      },
    });
    const backfill = await sut.call('POST', `/api/exports/${berlin.json.id}/backfills`, {
      body: { start_at: '2024-01-01T00:00:00Z', end_at: '2024-01-01T02:00:00Z' },
    });
    expect(backfill.status, backfill.text).to.equal(201);
    const res = await page(`/admin/exports/${berlin.json.id}?backfill=${backfill.json.id}`);
    const panel = /<div class="panel backfill-progress"[\s\S]*?<\/div>/.exec(res.text)?.[0] ?? '';
    expect(panel.replace(/\s+/g, ' ')).to.contain('2024-01-01 01:00:00 – 2024-01-01 03:00:00 (Europe/Berlin)');
    await sut.call('DELETE', `/api/exports/${berlin.json.id}`);
  });

  it('a running run says how long its attempt has run so far', async () => {
    const start = Date.UTC(2024, 0, 2, 8);
    const id = runIdFor(exportId, start);
    await sut.store.runs.createMany([
      { id, export_id: exportId, data_interval_start: start, data_interval_end: start + 3_600_000 },
    ]);
    const started = await sut.store.runs.start(id, Date.now() - 125_000);
    expect(started.status).to.equal('started');
    const res = await page(`/admin/exports/${exportId}/runs/${id}`);
    expect(res.text.replace(/\s+/g, ' ')).to.match(
      /<dt>Duration of the last attempt<\/dt> <dd>2 min [5-9] s so far<\/dd>/,
    );
  });

  describe('what a page says of model, pause, receipt, order and names', () => {
    const s3 = {
      type: 'S3',
      config: { bucket_name: 'bucket-one', aws_access_key_id: 'A', aws_secret_access_key: 'B' },
    };
    const create = async (body: Record<string, unknown>) => {
      const res = await sut.call('POST', '/api/exports', {
        body: { name: 'x', team_id: 7, interval: 'hour', paused: true, destination: s3, ...body },
      });
      expect(res.status, res.text).to.equal(201);
      return res.json.id as string;
    };
    const flat = (text: string) => text.replace(/\s+/g, ' ');

    it('a persons export lists no event filters (the model takes none); an events export does', async () => {
      const persons = await create({ name: 'persons page', model: 'persons' });
      const events = await create({ name: 'events page', include_events: ['$pageview'] });
      const p = await page(`/admin/exports/${persons}`);
      expect(p.status).to.equal(200);
      expect(p.text).to.contain('<dd>persons</dd>');
      expect(p.text).to.not.contain('Events included').and.not.contain('Events excluded');
      const e = flat((await page(`/admin/exports/${events}`)).text);
      expect(e).to.contain('<dt>Events included</dt> <dd>$pageview</dd>').and.contain('<dt>Events excluded</dt>');
    });

    it('an export of a model this version does not know (stored by a newer one) still shows its page', async () => {
      const id = await create({ name: 'future model', include_events: ['$pageview'] });
      await sut.store.exports.modify(id, (exp) => ({ ...exp, model: 'groups' }) as typeof exp);
      const res = await page(`/admin/exports/${id}`);
      expect(res.status, res.text).to.equal(200);
      expect(flat(res.text)).to.contain('<dd>groups</dd>').and.contain('<dt>Events included</dt> <dd>$pageview</dd>');
    });

    it('a scheduled run of a paused export says it waits for the export to be unpaused', async () => {
      const id = await create({ name: 'paused runs' });
      const start = Date.UTC(2024, 0, 4, 8);
      const runId = runIdFor(id, start);
      await sut.store.runs.createMany([
        { id: runId, export_id: id, data_interval_start: start, data_interval_end: start + 3_600_000 },
      ]);
      const waits = 'waits for the export to be unpaused';
      expect(flat((await page(`/admin/exports/${id}/runs/${runId}`)).text)).to.contain(waits);
      const list = flat((await page(`/admin/exports/${id}`)).text);
      expect(/<tr data-run-id[\s\S]*?<\/tr>/.exec(list)?.[0]).to.contain(waits);
      await sut.call('POST', `/api/exports/${id}/unpause`);
      expect((await page(`/admin/exports/${id}/runs/${runId}`)).text).to.not.contain(waits);
    });

    it("a receipt's earliest and latest inserted_at are shown as the other times, to the microsecond", async () => {
      const start = Date.UTC(2024, 0, 5, 8);
      const runId = runIdFor(exportId, start);
      await sut.store.runs.createMany([
        { id: runId, export_id: exportId, data_interval_start: start, data_interval_end: start + 3_600_000 },
      ]);
      await sut.store.runs.start(runId, Date.now());
      const receipt = {
        records: 2,
        checksum: '12345',
        min_inserted_at: '2024-01-05T08:00:00.000250+00:00',
        max_inserted_at: '2024-01-05T08:59:59.999999+00:00',
        files: [],
        version: 1,
      };
      await sut.store.runs.complete(runId, { records: 2, bytes: 10, files: [], receipt });
      const res = flat((await page(`/admin/exports/${exportId}/runs/${runId}`)).text);
      expect(res).to.contain('<dt>Earliest inserted_at</dt> <dd>2024-01-05 08:00:00.000250 UTC</dd>');
      expect(res).to.contain('<dt>Latest inserted_at</dt> <dd>2024-01-05 08:59:59.999999 UTC</dd>');
      expect(res).to.not.contain('2024-01-05T08:');
    });

    it('sorting by creation time shows the newest first and says so', async () => {
      const ids: string[] = [];
      for (const name of ['first made', 'second made', 'third made']) {
        ids.push(await create({ name, team_id: 91_731 }));
        await new Promise((r) => setTimeout(r, 5));
      }
      const res = await page('/admin/exports?team=91731&sort=created');
      const order = [...res.text.matchAll(/<tr data-export-id="([^"]+)"/g)].map((m) => m[1]);
      expect(order).to.deep.equal([...ids].reverse());
      expect(res.text).to.match(/<option value="created"\s+selected>Creation time \(newest first\)<\/option>/);
    });

    it('isolates export names with <bdi>: a right-to-left name with brackets keeps its neighbours in order', async () => {
      const name = 'ייצוא (שעתי)';
      const id = await create({ name, team_id: 91_732 });
      const bdi = `<bdi>${name}</bdi>`;
      expect((await page('/admin/exports?team=91732')).text).to.contain(bdi);
      expect((await page(`/admin/exports/${id}`)).text).to.contain(`<h1>${bdi}</h1>`);
      expect((await page(`/admin/exports/${id}/edit`)).text).to.contain(`<h1>Edit ${bdi}</h1>`);
      const start = Date.UTC(2024, 0, 6, 8);
      const runId = runIdFor(id, start);
      await sut.store.runs.createMany([
        { id: runId, export_id: id, data_interval_start: start, data_interval_end: start + 3_600_000 },
      ]);
      expect((await page(`/admin/exports/${id}/runs/${runId}`)).text).to.contain(`>${bdi}</a>`);
    });
  });

  it('answers an unknown export with a 404 page', async () => {
    const res = await page('/admin/exports/no-such-export');
    expect(res.status).to.equal(404);
    expect(res.text).to.contain('not found');
    // Not even percent-encoding: it was a 400 in JSON.
    for (const path of ['/admin/exports/%E0%A4%A', `/admin/exports/${exportId}/runs/%ff`]) {
      const odd = await page(path);
      expect(odd.status, path).to.equal(404);
      expect(odd.headers.get('content-type'), path).to.contain('text/html');
    }
  });

  it('shows the API validation message of an edit at its field, and keeps a secret left empty', async () => {
    const csrf = csrfOf((await page(`/admin/exports/${exportId}/edit`)).text);
    const bad = await post(`/admin/exports/${exportId}/edit`, {
      _csrf: csrf,
      name: 'renamed',
      interval: 'hour',
      timezone: 'Mars/Olympus',
      'destination.config.bucket_name': 'bucket-one',
      'destination.config.aws_access_key_id': 'AKIA',
      'destination.config.aws_secret_access_key': '',
    });
    expect(bad.status).to.equal(400);
    expect(bad.text).to.match(/id="f-timezone-error"[^>]*>\s*<span>Error: must be an IANA time zone name/);
    expect(bad.text).to.match(/id="f-timezone"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="f-timezone"/);
    // PATCH names a destination field from the destination down (config.bucket_name): still placed at it.
    const badBucket = await post(`/admin/exports/${exportId}/edit`, {
      _csrf: csrf,
      name: 'renamed',
      interval: 'hour',
      timezone: 'UTC',
      'destination.config.bucket_name': 'B',
    });
    expect(badBucket.status).to.equal(400);
    expect(badBucket.text).to.match(
      /id="f-destination-config-bucket_name-error"[^>]*>\s*<span>Error: must be a valid S3/,
    );

    const good = await post(`/admin/exports/${exportId}/edit`, {
      _csrf: csrf,
      name: 'renamed',
      interval: 'hour',
      timezone: 'UTC',
      'destination.config.bucket_name': 'bucket-one',
      'destination.config.aws_access_key_id': 'AKIA',
      'destination.config.aws_secret_access_key': '',
    });
    expect(good.status, good.text.match(/error-summary[\s\S]{0,600}/)?.[0]).to.equal(303);
    const stored = await sut.store.exports.get(exportId);
    expect(stored!.name).to.equal('renamed');
    expect((stored!.destination.config as { aws_secret_access_key: string }).aws_secret_access_key).to.equal(secret);
  });
});
