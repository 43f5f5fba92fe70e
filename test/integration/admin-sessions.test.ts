import { expect } from 'chai';
import { ApiHarness, TOKEN, type HttpResult } from '../helpers/api-harness';

const QUEUES_API = '/admin/queues/api/queues';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('admin sessions (/admin/login, /admin/logout)', () => {
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(() => sut.close());

  const login = (harness: ApiHarness, headers: Record<string, string> = {}) =>
    harness.call('POST', '/admin/login', {
      token: null,
      body: new URLSearchParams({ token: TOKEN }).toString(),
      headers: { ...FORM, ...headers },
    });
  const cookieOf = (res: HttpResult) => res.headers.get('set-cookie')!.split(';')[0]!;
  const board = (cookie: string) => sut.call('GET', QUEUES_API, { token: null, headers: { cookie } });
  const csrfOf = async (cookie: string) =>
    (await sut.call('GET', '/admin/session', { token: null, headers: { cookie } })).json.csrf_token as string;
  const logout = (cookie: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    sut.call('POST', '/admin/logout', {
      token: null,
      body: new URLSearchParams(fields).toString(),
      headers: { ...FORM, cookie, ...headers },
    });

  it('lets no other site frame the login form or the board', async () => {
    const form = await sut.call('GET', '/admin/login', { token: null });
    expect(form.headers.get('content-security-policy')).to.contain("frame-ancestors 'none'");
    const page = await sut.call('GET', '/admin/queues', { headers: { accept: 'text/html' } });
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-security-policy')).to.contain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).to.equal('DENY');
  });

  it('gives every login its own cookie', async () => {
    const first = cookieOf(await login(sut));
    const second = cookieOf(await login(sut));
    expect(first).to.not.equal(second);
    expect((await board(first)).status).to.equal(200);
    expect((await board(second)).status).to.equal(200);
  });

  it('revokes the session on logout: a cookie saved before stops working, other sessions stay', async () => {
    const saved = cookieOf(await login(sut));
    const other = cookieOf(await login(sut));
    const csrf = await csrfOf(saved);
    expect(csrf).to.match(/^[A-Za-z0-9_-]{43}$/);

    const out = await logout(saved, { _csrf: csrf });
    expect(out.status).to.equal(303);
    expect(out.headers.get('location')).to.equal('/admin/login');
    expect(out.headers.get('set-cookie')).to.match(/^bx_admin_session=;.*Expires=Thu, 01 Jan 1970/);

    expect((await board(saved)).status, 'the saved cookie after logout').to.equal(401);
    const page = await sut.call('GET', '/admin/queues', {
      token: null,
      headers: { cookie: saved, accept: 'text/html' },
    });
    expect(page.status).to.equal(303);
    expect((await board(other)).status, 'another login').to.equal(200);
  });

  it('needs the session CSRF token to log out, as any form that changes something', async () => {
    const cookie = cookieOf(await login(sut));
    const csrf = await csrfOf(cookie);
    const another = await csrfOf(cookieOf(await login(sut)));
    const wrong: Array<Record<string, string>> = [{}, { _csrf: 'x'.repeat(43) }, { _csrf: another }];
    for (const fields of wrong) {
      const res = await logout(cookie, fields);
      expect(res.status, JSON.stringify(fields)).to.equal(403);
      expect(res.json.error.code).to.equal('csrf_failed');
    }
    expect((await board(cookie)).status, 'still logged in').to.equal(200);
    expect((await logout(cookie, {}, { 'x-csrf-token': csrf })).status, 'header form').to.equal(303);
    expect((await board(cookie)).status).to.equal(401);
  });

  it('keeps sessions server-side, under a hash of the cookie, and lets them expire', async () => {
    const cookie = cookieOf(await login(sut));
    const id = cookie.split('=')[1]!;
    const keys = await sut.store.redis.keys(`${sut.prefix}:admin-session:*`);
    expect(keys.length).to.be.greaterThan(0);
    for (const key of keys) {
      expect(key).to.not.contain(id);
      expect(await sut.store.redis.get(key)).to.not.contain(id);
      const ttl = await sut.store.redis.ttl(key);
      expect(ttl)
        .to.be.greaterThan(0)
        .and.at.most(12 * 3600);
    }
  });

  it('refuses a login form posted from another site', async () => {
    const res = await login(sut, { origin: 'https://evil.example' });
    expect(res.status).to.equal(403);
    expect(res.headers.get('set-cookie')).to.equal(null);
  });

  it('GET /admin/session is 401 without a session', async () => {
    const res = await sut.call('GET', '/admin/session', { token: null });
    expect(res.status).to.equal(401);
  });

  describe('Secure cookies', () => {
    it('ignore X-Forwarded-Proto unless TRUST_PROXY says so', async () => {
      const res = await login(sut, { 'x-forwarded-proto': 'https' });
      expect(res.headers.get('set-cookie')).to.not.match(/;\s*Secure/i);
    });

    it('are Secure when a trusted proxy says the request came over HTTPS', async () => {
      const proxied = await new ApiHarness({ trustProxy: ['loopback'] }).start();
      try {
        const https = await login(proxied, { 'x-forwarded-proto': 'https' });
        expect(https.headers.get('set-cookie')).to.match(/;\s*Secure/i);
        const http = await login(proxied);
        expect(http.headers.get('set-cookie')).to.not.match(/;\s*Secure/i);
        // Same origin seen through the proxy: the board's own page may change things.
        const cookie = cookieOf(https);
        const res = await proxied.call('PUT', '/admin/queues/api/queues/export-runs/pause', {
          token: null,
          headers: { cookie, origin: 'https://admin.example', 'x-forwarded-host': 'admin.example' },
        });
        expect(res.status).to.equal(200);
      } finally {
        await proxied.close();
      }
    });
  });
});
