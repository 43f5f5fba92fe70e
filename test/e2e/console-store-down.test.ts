import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { expectAccessible, launchChromium, screenshot } from '../helpers/browser';
import { OwnRedis } from '../helpers/own-redis';
import { ServiceProcess } from '../helpers/processes';

const TOKEN = 'store-down-token-0123456789';

/**
 * The console while Redis is down: the API process (npm run start:api) on a
 * redis-server of the test's own, killed under it, then started again.
 * Chromium, logged in with the bearer token.
 */
describe('web console while Redis is down', function () {
  this.timeout(120_000);
  const redis = new OwnRedis();
  let api: ServiceProcess;
  let base = '';
  let browser: Browser;
  let page: Page;

  before(async function () {
    this.timeout(180_000);
    await redis.start();
    api = new ServiceProcess('api', {
      REDIS_URL: redis.url,
      ADMIN_API_TOKEN: TOKEN,
      PORT: '0',
      LOG_LEVEL: 'info',
    });
    await api.waitForLog('api listening');
    base = `http://127.0.0.1:${api.logs.find((l) => l.msg === 'api listening')!.port as number}`;
    browser = await launchChromium();
    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await api?.stop();
    await redis.stop();
  });

  const call = (method: string, path: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, any> }));

  async function createExport(name: string, bucket: string): Promise<{ status: number; json: Record<string, any> }> {
    const exp = await call('POST', '/api/exports', {
      name,
      team_id: 1,
      interval: 'hour',
      paused: true,
      destination: {
        type: 'S3',
        config: { bucket_name: bucket, aws_access_key_id: 'A', aws_secret_access_key: 'B' },
      },
    });
    expect(exp.status).to.equal(201);
    return exp;
  }

  it("a backfill's progress says it is no longer up to date while Redis is down, and resumes", async () => {
    const exp = await createExport('held', 'bucket-one');
    const start = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 10 * 3_600_000;
    const backfill = await call('POST', `/api/exports/${exp.json.id}/backfills`, {
      start_at: new Date(start).toISOString(),
      end_at: new Date(start + 3 * 3_600_000).toISOString(),
    });
    expect(backfill.status).to.equal(201);
    await page.goto(`${base}/admin/exports/${exp.json.id}?backfill=${backfill.json.id}`);
    const text = page.locator('.backfill-progress .backfill-text');
    expect(await text.innerText()).to.contain('Running');
    await redis.kill();
    await page.locator('.backfill-stale', { hasText: 'The store (Redis) is not reachable' }).waitFor();
    expect(await text.innerText()).to.match(/not updated since \d{2}:\d{2}:\d{2} UTC/);
    await redis.start();
    await page.locator('.backfill-stale').waitFor({ state: 'detached', timeout: 30_000 });
    expect(await text.innerText())
      .to.contain('Running')
      .and.contain('0 of 3 runs finished');
  });

  it('keeps what was typed in the new-export form, and says why it was not saved', async () => {
    await page.goto(`${base}/admin/exports/new`);
    await page.getByLabel(/^Name/).fill('typed while Redis died');
    await page.getByLabel(/^Team id/).fill('42');
    await page.getByLabel(/^Bucket name/).fill('bucket-typed');
    await page.getByLabel(/^AWS access key id/).fill('AKIATYPED');
    await page.getByLabel(/^AWS secret access key/).fill('secret-typed-0451');
    await redis.kill();
    const answer = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Create export' }).click();
    expect((await answer).status()).to.equal(503);
    await page.locator('.error-summary').waitFor();
    expect(await page.locator('.error-summary').innerText()).to.contain('The store (Redis) is not reachable now');
    expect(await page.getByLabel(/^Name/).inputValue()).to.equal('typed while Redis died');
    expect(await page.getByLabel(/^Team id/).inputValue()).to.equal('42');
    expect(await page.getByLabel(/^Bucket name/).inputValue()).to.equal('bucket-typed');
    // The secret is never sent back to a page.
    expect(await page.getByLabel(/^AWS secret access key/).inputValue()).to.equal('');
    expect(await page.content()).to.not.contain('secret-typed-0451');
    await expectAccessible(page, 'the form while Redis is down');
  });

  it('a page opened while Redis is down says so in HTML, and Try again works once it is back', async () => {
    const res = await page.goto(`${base}/admin/exports`);
    expect(res?.status()).to.equal(503);
    expect(res?.headers()['content-type']).to.contain('text/html');
    expect(res?.headers()['retry-after']).to.equal('5');
    expect(await page.getByRole('alert').innerText()).to.contain('The store (Redis) is not reachable now');
    await expectAccessible(page, 'the store-down page');
    await screenshot(page, 'store-down');

    await redis.start();
    await page.getByRole('link', { name: 'Try again' }).click();
    await page.waitForURL(`${base}/admin/exports`);
    await page.getByRole('heading', { level: 1, name: 'Exports' }).waitFor({ timeout: 30_000 });
  });

  it('keeps what was typed in the edit form, and says why it was not saved', async () => {
    const { id } = (await createExport('stored name', 'bucket-stored')).json as { id: string };
    await page.goto(`${base}/admin/exports/${id}/edit`);
    await page.getByLabel(/^Name/).fill('edited <while> Redis died');
    await page.getByLabel(/^Bucket name/).fill('bucket-edited');
    await page.getByLabel(/^AWS secret access key/).fill('secret-edited-0452');
    await redis.kill();
    const answer = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Save changes' }).click();
    const res = await answer;
    expect(res.status()).to.equal(503);
    expect(res.headers()['retry-after']).to.equal('5');
    await page.locator('.error-summary').waitFor();
    expect(await page.locator('.error-summary').innerText()).to.contain('The store (Redis) is not reachable now');
    expect(await page.getByLabel(/^Name/).inputValue()).to.equal('edited <while> Redis died');
    expect(await page.getByLabel(/^Bucket name/).inputValue()).to.equal('bucket-edited');
    expect(await page.getByLabel(/^AWS secret access key/).inputValue()).to.equal('');
    expect(await page.content()).to.not.contain('secret-edited-0452');
    await expectAccessible(page, 'the edit form while Redis is down');

    // Sent again once Redis is back, it saves what was typed (the secret typed again).
    await redis.start();
    await page.getByLabel(/^AWS secret access key/).fill('secret-edited-0452');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(`**/admin/exports/${id}?notice=saved`, { timeout: 30_000 });
    const exp = (await call('GET', `/api/exports/${id}`)).json;
    expect(exp.name).to.equal('edited <while> Redis died');
    expect(exp.destination.config.bucket_name).to.equal('bucket-edited');
  });
});
