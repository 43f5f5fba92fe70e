import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiHarness, TOKEN } from '../helpers/api-harness';
import { launchChromium, screenshot } from '../helpers/browser';

/**
 * A console page left open while its session ends (12 hours, or a logout in
 * another tab), then used: in Chromium over the in-process API.
 */
describe('web console after its session ended', function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let exportId: string;

  before(async function () {
    this.timeout(120_000);
    sut = await new ApiHarness().start();
    const created = await sut.call('POST', '/api/exports', {
      body: {
        name: 'session ends',
        team_id: 1,
        interval: 'hour',
        paused: true,
        destination: {
          type: 'S3',
          config: { bucket_name: 'bucket-one', aws_access_key_id: 'AKIA', aws_secret_access_key: 'secret' },
        },
      },
    });
    exportId = created.json.id;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await sut?.close();
  });

  async function logIn(): Promise<void> {
    await context.clearCookies();
    await page.goto(`${sut.base}/admin/exports/${exportId}?status=Failed`);
    await page.fill('#token', TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`**/admin/exports/${exportId}?status=Failed`);
  }

  /** The session ends on the server (as at its expiry); the page stays open. */
  async function endSession(): Promise<void> {
    await sut.store.redis.del(...(await sut.store.redis.keys(`${sut.prefix}:*session*`)));
  }

  it('a form sent then goes to the login form, which says so, and back to the page after it', async () => {
    await logIn();
    await endSession();
    await page.getByRole('button', { name: 'Unpause' }).click();
    await page.waitForURL('**/admin/login**');
    await screenshot(page, 'session-ended-login');
    expect(await page.getByRole('status').innerText()).to.contain('Your session has ended');
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.paused, 'not unpaused').to.equal(true);
    await page.fill('#token', TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`**/admin/exports/${exportId}?status=Failed`);
    expect(await page.getByRole('button', { name: 'Unpause' }).count()).to.equal(1);
  });

  it('an edit form sent then comes back after the login with what was typed, secrets left out', async () => {
    await logIn();
    await page.goto(`${sut.base}/admin/exports/${exportId}/edit`);
    await page.getByLabel(/^Name/).fill('typed <after> the session');
    await page.getByLabel(/^Bucket name/).fill('bucket-typed');
    await page.getByLabel(/^AWS secret access key/).fill('secret-typed-0453');
    await endSession();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL('**/admin/login**');
    expect(await page.getByRole('status').innerText()).to.contain('Your session has ended');
    const kept = await page.evaluate(() => JSON.stringify({ ...(globalThis as any).sessionStorage }));
    expect(kept).to.contain('bucket-typed').and.not.contain('secret-typed-0453');
    await page.fill('#token', TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`**/admin/exports/${exportId}/edit**`);
    expect(await page.getByRole('alert').innerText()).to.contain('were not saved');
    expect(await page.getByLabel(/^Name/).inputValue()).to.equal('typed <after> the session');
    expect(await page.getByLabel(/^Bucket name/).inputValue()).to.equal('bucket-typed');
    expect(await page.getByLabel(/^AWS secret access key/).inputValue()).to.equal('');
    expect(await page.content()).to.not.contain('secret-typed-0453');
    expect((await sut.call('GET', `/api/exports/${exportId}`)).json.name, 'not saved').to.equal('session ends');

    // Saved from there (the secret typed again), the typed values are the export's.
    await page.getByLabel(/^AWS secret access key/).fill('secret-typed-0453');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.waitForURL(`**/admin/exports/${exportId}?notice=saved`);
    const stored = (await sut.call('GET', `/api/exports/${exportId}`)).json;
    expect(stored.name).to.equal('typed <after> the session');
    expect(stored.destination.config.bucket_name).to.equal('bucket-typed');
  });

  it('the destination test then says the session ended, not a bearer-token message', async () => {
    await logIn();
    await endSession();
    await page.getByRole('button', { name: 'Test destination' }).click();
    const result = page.locator('#test-result');
    await page.waitForFunction(
      () => !/Testing/.test((globalThis as any).document.getElementById('test-result').textContent),
    );
    const text = await result.innerText();
    expect(text).to.contain('session has ended');
    expect(text).to.not.contain('Bearer');
  });

  it("a backfill's progress then says why it stopped updating", async () => {
    const now = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const backfill = await sut.call('POST', `/api/exports/${exportId}/backfills`, {
      body: { start_at: new Date(now - 3 * 3_600_000).toISOString(), end_at: new Date(now).toISOString() },
    });
    expect(backfill.status, backfill.text).to.equal(201);
    await logIn();
    await page.goto(`${sut.base}/admin/exports/${exportId}?backfill=${backfill.json.id}#backfill`);
    expect(await page.locator('.backfill-progress').getAttribute('data-status')).to.equal('Running');
    await endSession();
    await page.waitForFunction(
      () => /session has ended/.test((globalThis as any).document.querySelector('.backfill-text').textContent),
      undefined,
      { timeout: 10_000 },
    );
  });
});
