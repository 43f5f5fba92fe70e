import { runIdFor } from '@bx/core';
import AxeBuilder from '@axe-core/playwright';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiHarness, TOKEN } from '../helpers/api-harness';
import { expectAccessible, launchChromium, screenshot } from '../helpers/browser';

const HOUR = 3_600_000;
const S3 = { type: 'S3', config: { bucket_name: 'bucket-one', aws_access_key_id: 'AKIA', aws_secret_access_key: 'x' } };

/**
 * The console as a new user meets it: what the pages say about time zones,
 * paused exports, the persons model and a backfill's intervals. Chromium over
 * the in-process API on the real Redis.
 */
describe('web console, what a user reads', function () {
  this.timeout(120_000);
  let sut: ApiHarness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async function () {
    this.timeout(180_000);
    sut = await new ApiHarness().start();
    browser = await launchChromium();
    context = await browser.newContext({
      viewport: { width: 1360, height: 900 },
      extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` },
    });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await sut?.close();
  });

  async function create(body: Record<string, unknown>): Promise<string> {
    const res = await sut.call('POST', '/api/exports', {
      body: { team_id: 1, interval: 'hour', destination: S3, ...body },
    });
    expect(res.status, res.text).to.equal(201);
    return res.json.id as string;
  }

  /** A run record of the export's hour `hoursAgo` hours back, completed unless `scheduled`. */
  async function seedRun(exportId: string, hoursAgo: number, scheduled = false): Promise<string> {
    const start = Math.floor(Date.now() / HOUR) * HOUR - hoursAgo * HOUR;
    const id = runIdFor(exportId, start);
    await sut.store.runs.createMany([
      { id, export_id: exportId, data_interval_start: start, data_interval_end: start + HOUR },
    ]);
    if (!scheduled) {
      await sut.store.runs.start(id);
      await sut.store.runs.complete(id, { records: 7, bytes: 700, files: ['a.jsonl'] });
    }
    return id;
  }

  const headers = (selector: string) => page.locator(`${selector} thead th`).allInnerTexts();

  it('shows the times of an Etc/UTC export once, as for UTC', async () => {
    const id = await create({ name: 'etc utc', timezone: 'Etc/UTC', paused: true });
    const runId = await seedRun(id, 2);
    await page.goto(`${sut.base}/admin/exports/${id}`);
    const columns = (await headers('table.runs')).filter((h) => h.startsWith('Interval'));
    expect(columns).to.deep.equal(['Interval (Etc/UTC)']);
    await page.goto(`${sut.base}/admin/exports/${id}/runs/${runId}`);
    const terms = (await page.locator('dl.settings > dt').allInnerTexts()).filter((t) => t.startsWith('Interval'));
    expect(terms).to.have.length(1);
  });

  it("every landmark of an export's page has a name of its own", async () => {
    const id = await create({ name: 'landmarks', paused: true });
    await seedRun(id, 2);
    await page.goto(`${sut.base}/admin/exports/${id}`);
    const result = await new AxeBuilder({ page }).withRules(['landmark-unique']).analyze();
    expect(result.violations.flatMap((v) => v.nodes.map((n) => n.target.join(' ')))).to.deep.equal([]);
  });

  it('the run status filter names statuses in the words the runs table uses', async () => {
    const id = await create({ name: 'status words', paused: true });
    await page.goto(`${sut.base}/admin/exports/${id}`);
    const filter = page.getByLabel('Run status');
    expect(await filter.locator('option').allInnerTexts())
      .to.include('Failed, will retry')
      .and.not.include('FailedRetryable');
    await filter.selectOption({ label: 'Failed, will retry' });
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/status=FailedRetryable/);
    expect(await page.getByLabel('Run status').inputValue()).to.equal('FailedRetryable');
  });

  it('pages load without errors in the browser console', async () => {
    const fresh = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } });
    const tab = await fresh.newPage();
    const errors: string[] = [];
    tab.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    tab.on('pageerror', (e) => errors.push(e.message));
    for (const path of ['/admin/exports', '/admin/exports/new']) {
      await tab.goto(sut.base + path, { waitUntil: 'networkidle' });
    }
    await fresh.close();
    expect(errors).to.deep.equal([]);
  });

  it("says in the list that a paused export's last run waits for the unpause", async () => {
    const id = await create({ name: 'paused with a waiting run', paused: true });
    await seedRun(id, 1, true);
    await page.goto(`${sut.base}/admin/exports`);
    const lastRun = page.locator(`tr[data-export-id="${id}"] td`).nth(5);
    expect((await lastRun.innerText()).replace(/\s+/g, ' ')).to.contain(
      'Scheduled (waits for the export to be unpaused)',
    );
  });

  it('a persons export is made by keyboard without event fields, which it cannot take', async () => {
    await page.goto(`${sut.base}/admin/exports/new`);
    const include = page.getByLabel('Events to include');
    expect(await include.isVisible()).to.equal(true);
    // Keyboard only: focus the Model select, choose persons with the arrow key.
    await page.getByLabel('Model').focus();
    await page.keyboard.press('ArrowDown');
    expect(await page.getByLabel('Model').inputValue()).to.equal('persons');
    expect(await include.isVisible()).to.equal(false);
    expect(await page.getByRole('textbox', { name: 'Events to exclude' }).count()).to.equal(0);
    await expectAccessible(page, 'the new export form, persons');

    await page.getByLabel(/^Name/).fill('persons by keyboard');
    await page.getByLabel(/^Team id/).fill('1');
    await page.getByLabel(/^Bucket name/).fill('Not A Bucket');
    await page.getByLabel(/^AWS access key id/).fill('AKIA');
    await page.getByLabel(/^AWS secret access key/).fill('secret');
    await page.getByLabel(/^AWS secret access key/).press('Enter');
    // Refused for the bucket, not for event filters; the model chosen is kept and still hides them.
    await page.locator('.error-summary').waitFor();
    expect(await page.locator('.error-summary').innerText())
      .to.contain('Bucket name')
      .and.not.contain('vents');
    expect(await page.getByLabel('Model').inputValue()).to.equal('persons');
    expect(await include.isVisible()).to.equal(false);

    await page.getByLabel(/^Bucket name/).fill('bucket-one');
    await page.getByLabel(/^AWS secret access key/).fill('secret');
    await page.getByRole('button', { name: 'Create export' }).click();
    await page.getByRole('status').filter({ hasText: 'Export created.' }).waitFor();
    const id = new URL(page.url()).pathname.split('/').pop()!;
    expect((await sut.call('GET', `/api/exports/${id}`)).json).to.deep.include({
      model: 'persons',
      include_events: [],
    });

    await page.goto(`${sut.base}/admin/exports/${id}/edit`);
    expect(await page.getByLabel('Events to include').count()).to.equal(0);
    await page.getByLabel(/^Name/).fill('persons, renamed');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Changes saved.' }).waitFor();
  });

  it("a backfill's dry run shows the whole intervals it covers, not only the range typed", async () => {
    const id = await create({ name: 'daily in Berlin', interval: 'day', timezone: 'Europe/Berlin', paused: true });
    await page.goto(`${sut.base}/admin/exports/${id}`);
    await page.getByLabel(/^Start/).fill('2024-03-04T10:00:00Z');
    await page.getByLabel(/^End/).fill('2024-03-05T06:00:00Z');
    await page.getByRole('button', { name: 'Dry run' }).click();
    const plan = page.locator('.dry-run');
    await plan.waitFor();
    // Berlin days 4 and 5 March: 2024-03-03T23:00Z to 2024-03-05T23:00Z.
    expect(await plan.locator('.covered-range').innerText()).to.equal(
      'from 2024-03-04 00:00:00 to 2024-03-06 00:00:00 (Europe/Berlin)',
    );
    expect(await plan.innerText()).to.contain('2 whole intervals');
    expect(await plan.locator('.range-note').innerText()).to.contain('2024-03-04 11:00:00 to 2024-03-05 07:00:00');
    await expectAccessible(page, 'a dry run of whole intervals');
    await screenshot(page, 'user-dry-run-whole-intervals');
  });

  it('back and forward return to a dry run; addresses a form left behind open a page, not JSON', async () => {
    const id = await create({ name: 'back and forth', paused: true });
    const exportPage = `${sut.base}/admin/exports/${id}`;
    await page.goto(exportPage);
    await page.getByLabel(/^Start/).fill('2024-03-04T10:00:00Z');
    await page.getByLabel(/^End/).fill('2024-03-04T13:00:00Z');
    await page.getByLabel(/^End/).press('Enter');
    await page.locator('.dry-run').waitFor();
    const planText = await page.locator('.dry-run .to-export').innerText();
    expect(planText).to.equal('3 to export');
    await page.getByRole('link', { name: 'Exports' }).first().click();
    await page.waitForURL(`${sut.base}/admin/exports`);
    // A POST's answer would be "Confirm Form Resubmission" (net::ERR_CACHE_MISS) here.
    const back = await page.goBack();
    expect(back?.status()).to.equal(200);
    expect(await page.locator('.dry-run .to-export').innerText()).to.equal(planText);
    expect(await page.getByLabel(/^Start/).inputValue()).to.equal('2024-03-04T10:00:00Z');
    await page.goForward();
    expect(page.url()).to.equal(`${sut.base}/admin/exports`);

    // What the address bar held after a dry run or a destination test without JavaScript, and a run's
    // address cut short: the export's page. Any other address under the console: a page saying so.
    for (const path of ['backfills', 'test', 'runs']) {
      const res = await page.goto(`${exportPage}/${path}`);
      expect(res?.status(), path).to.equal(200);
      expect(new URL(page.url()).pathname, path).to.equal(`/admin/exports/${id}`);
    }
    const missing = await page.goto(`${exportPage}/no-such-page`);
    expect(missing?.status()).to.equal(404);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).to.equal('Not found');
    await page.getByRole('link', { name: 'Back to the exports' }).click();
    await page.waitForURL(`${sut.base}/admin/exports`);
  });

  it('cancelling a run or a backfill asks first, saying what it does; "No" changes nothing', async () => {
    const id = await create({ name: 'asks first', paused: true });
    const runId = await seedRun(id, 3, true);
    await page.goto(`${sut.base}/admin/exports/${id}`);
    await page.getByRole('link', { name: /^Cancel run/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Cancel this run?' }).waitFor();
    expect(await page.locator('.confirm').innerText()).to.contain('is not tried again');
    await expectAccessible(page, 'the page that asks before cancelling a run');
    await page.getByRole('link', { name: 'No, keep it' }).click();
    await page.waitForURL(`${sut.base}/admin/exports/${id}`);
    expect((await sut.call('GET', `/api/exports/${id}/runs/${runId}`)).json.status).to.equal('Scheduled');
    await page.getByRole('link', { name: /^Cancel run/ }).click();
    await page.getByRole('button', { name: 'Yes, cancel the run' }).click();
    await page.getByRole('status').filter({ hasText: 'Run cancelled.' }).waitFor();
    expect((await sut.call('GET', `/api/exports/${id}/runs/${runId}`)).json.status).to.equal('Cancelled');
    // Its question opened again (history): the run has finished, nothing to ask.
    await page.goBack();
    await page.getByRole('alert').filter({ hasText: 'That run has already finished' }).waitFor();

    // A backfill of a paused export: its runs wait, so it is still running when cancelled.
    const start = Math.floor(Date.now() / HOUR) * HOUR - 30 * HOUR;
    const created = await sut.call('POST', `/api/exports/${id}/backfills`, {
      body: { start_at: new Date(start).toISOString(), end_at: new Date(start + 4 * HOUR).toISOString() },
    });
    expect(created.status, created.text).to.equal(201);
    const backfill = `/api/exports/${id}/backfills/${created.json.id}`;
    await page.goto(`${sut.base}/admin/exports/${id}?backfill=${created.json.id}`);
    await page.getByRole('link', { name: 'Cancel backfill' }).click();
    await page.getByRole('heading', { level: 1, name: 'Cancel this backfill?' }).waitFor();
    expect(await page.locator('.confirm').innerText()).to.contain('4 intervals not yet finished');
    await page.getByRole('link', { name: 'No, keep it running' }).click();
    expect((await sut.call('GET', backfill)).json.status).to.equal('Running');
    await page.getByRole('link', { name: 'Cancel backfill' }).click();
    await page.getByRole('button', { name: 'Yes, cancel the backfill' }).click();
    await page.getByRole('status').filter({ hasText: 'Backfill cancelled.' }).waitFor();
    expect((await sut.call('GET', backfill)).json.status).to.equal('Cancelled');
  });
});
