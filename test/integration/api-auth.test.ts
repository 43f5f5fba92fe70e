import { expect } from 'chai';
import { request, type ClientRequest } from 'node:http';
import { ApiHarness, TOKEN } from '../helpers/api-harness';

describe('API authentication: before the body, and limited per client', () => {
  let sut: ApiHarness;
  before(async () => {
    // Trusting the loopback proxy lets the test speak as several clients (X-Forwarded-For).
    sut = await new ApiHarness({ trustProxy: ['loopback'] }).start();
  });
  after(() => sut.close());

  const as = (ip: string, token: string | null, path = '/api/exports') =>
    sut.call('GET', path, { token, headers: { 'x-forwarded-for': ip } });

  it('answers 401 before reading the body of a request without a valid token', async () => {
    for (const token of [null, 'wrong-token-0123456789']) {
      const malformed = await sut.call('POST', '/api/exports', {
        token,
        body: '{"name": ',
        headers: { 'x-forwarded-for': '198.51.100.1' },
      });
      expect(malformed.status, 'malformed JSON').to.equal(401);
      const huge = await sut.call('POST', '/api/exports', {
        token,
        body: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
        headers: { 'x-forwarded-for': '198.51.100.1' },
      });
      expect(huge.status, '2 MB body').to.equal(401);
    }
    // With the token the body is read as before.
    expect((await sut.call('POST', '/api/exports', { body: '{"name": ' })).json.error.code).to.equal('invalid_json');
  });

  it('refuses a client with 429 and Retry-After once it sent 20 wrong tokens in a minute', async () => {
    const attacker = '203.0.113.7';
    for (let i = 0; i < 20; i++) {
      expect((await as(attacker, `guess-${i}-0123456789abcdef`)).status, `guess ${i}`).to.equal(401);
    }
    const refused = await as(attacker, 'guess-20-0123456789abcdef');
    expect(refused.status).to.equal(429);
    expect(refused.json.error.code).to.equal('too_many_requests');
    expect(Number(refused.headers.get('retry-after'))).to.be.within(1, 60);

    // Refused whatever it sends, so a right guess looks like a wrong one; the login form and the board too.
    expect((await as(attacker, TOKEN)).status).to.equal(429);
    expect((await as(attacker, TOKEN, '/admin/queues/api/queues')).status).to.equal(429);
    const form = await sut.call('POST', '/admin/login', {
      token: null,
      body: new URLSearchParams({ token: TOKEN }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': attacker },
    });
    expect(form.status).to.equal(429);

    // Other clients are not affected.
    expect((await as('203.0.113.8', TOKEN)).status).to.equal(200);
  });

  it('does not count requests with the right token, however many at once', async () => {
    const busy = '203.0.113.9';
    const answers = await Promise.all(Array.from({ length: 50 }, () => as(busy, TOKEN)));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(50).fill(200));
  });

  it('counts wrong tokens on the login form and the board', async () => {
    const client = '203.0.113.10';
    for (let i = 0; i < 10; i++) {
      const res = await sut.call('POST', '/admin/login', {
        token: null,
        body: new URLSearchParams({ token: `wrong-${i}` }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': client },
      });
      expect(res.status).to.equal(401);
      expect((await as(client, `wrong-${i}`, '/admin/queues/api/queues')).status).to.equal(401);
    }
    expect((await as(client, TOKEN)).status).to.equal(429);
  });

  it('checks at most 20 login guesses a minute, however many arrive at once', async () => {
    const client = '203.0.113.11';
    // Every guess's head first: the server answers 100 Continue as its handler starts, before the body.
    const guesses: Array<{ req: ClientRequest; status: Promise<number>; body: string }> = [];
    for (let i = 0; i < 40; i++) {
      const body = new URLSearchParams({ token: `wrong-at-once-${i}` }).toString();
      const req = request(`${sut.base}/admin/login`, {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(Buffer.byteLength(body)),
          expect: '100-continue',
          'x-forwarded-for': client,
        },
      });
      const status = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
      });
      guesses.push({ req, status, body });
    }
    const heads = guesses.map(
      (g) => new Promise<void>((resolve) => g.req.on('continue', resolve).on('response', () => resolve())),
    );
    for (const g of guesses) g.req.flushHeaders();
    await Promise.all(heads);
    for (const g of guesses) g.req.end(g.body);
    const statuses = await Promise.all(guesses.map((g) => g.status));
    expect(statuses.filter((s) => s === 401).length, 'guesses checked').to.equal(20);
    expect(statuses.filter((s) => s === 429).length, 'guesses refused').to.equal(20);
  });
});
