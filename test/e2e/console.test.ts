import { expect } from 'chai';
import { join } from 'node:path';
import { runIdFor, type Run } from '@bx/core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expectAccessible, launchChromium, screenshot } from '../helpers/browser';
import { ConsoleSystem, HOUR } from '../helpers/console-system';
import { testEnv } from '../helpers/env';
import { eventually } from '../helpers/processes';

/**
 * The web console in a real browser (Debian's Chromium through
 * playwright-core) against the real API, scheduler and worker processes,
 * Redis, ClickHouse 18.16 and the S3 server. Every page is checked with
 * axe-core and saved as a screenshot under .local/screenshots.
 */
describe('web console in Chromium', function () {
  this.timeout(120_000);
  const hours = 3;
  let sys: ConsoleSystem;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let goodId: string;
  let failedRunPath = '';

  before(async function () {
    this.timeout(180_000);
    sys = await new ConsoleSystem(hours).startAll();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    goodId = (await sys.api('POST', '/api/exports', sys.s3Export('events to S3'))).id;
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page) {
      await screenshot(page, `failed-${this.currentTest.title.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => undefined);
    }
  });
  after(async function () {
    this.timeout(60_000);
    // BX_README_IMAGES=docs/images renews the README's pictures from this run.
    const dir = process.env.BX_README_IMAGES;
    if (dir && page && failedRunPath) {
      await page.goto(`${sys.base}/admin/exports?sort=lag`);
      await page.screenshot({ path: join(dir, 'console-exports.png') });
      await page.goto(`${sys.base}${failedRunPath}`);
      await screenshot(page, 'console-run-logs', join(dir, 'console-run-logs.png'));
    }
    await browser?.close();
    await sys?.stop();
  });

  /** The control labelled `label` (a required field's label ends with an asterisk hidden from screen readers). */
  const field = (p: Page, label: string) =>
    p.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`));

  /** `2024-01-01T10:00:01.5+00:00` as the console shows it: `2024-01-01 10:00:01.5 UTC`. */
  const utcText = (iso: string) => `${iso.replace('T', ' ').replace(/(Z|\+00:00)$/, '')} UTC`;

  async function completedRuns(exportId: string, count: number): Promise<Run[]> {
    return eventually(
      async () => {
        const runs = (await sys.api('GET', `/api/exports/${exportId}/runs`)).results as Run[];
        return runs.length >= count && runs.every((r) => r.status === 'Completed') ? runs : undefined;
      },
      60_000,
      `${count} completed runs`,
    );
  }

  async function runWith(exportId: string, ok: (r: Run) => boolean, what: string): Promise<Run> {
    return eventually(
      async () => ((await sys.api('GET', `/api/exports/${exportId}/runs`)).results as Run[]).find(ok),
      60_000,
      what,
    );
  }

  it('logs in with the admin token and lands on the exports list', async () => {
    await page.goto(`${sys.base}/admin/exports`);
    expect(new URL(page.url()).pathname).to.equal('/admin/login');
    await expectAccessible(page, 'the login page');
    await screenshot(page, 'login');
    await field(page, 'Admin API token').fill(sys.token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${sys.base}/admin/exports`);
    await expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Exports');
  });

  it('lists an export created through the API with its team, destination, state and last run', async () => {
    await completedRuns(goodId, hours);
    await page.goto(`${sys.base}/admin/exports`);
    const row = page.locator(`tr[data-export-id="${goodId}"]`);
    const text = (await row.innerText()).replace(/\s+/g, ' ');
    expect(text).to.contain('events to S3');
    expect(text).to.contain(`s3://${sys.bucket}/`);
    expect(text).to.contain('Active');
    expect(text).to.contain('Completed');
    const total = [...Array(hours).keys()].reduce((s, h) => s + ConsoleSystem.eventsIn(h), 0);
    expect(await row.locator('td').last().innerText()).to.equal(String(total));
    await expectAccessible(page, 'the exports list');
    await screenshot(page, 'exports-list');
  });

  it("shows the export's completed runs with their record counts, and the chart", async () => {
    await page.goto(`${sys.base}/admin/exports`);
    await page.getByRole('link', { name: 'events to S3' }).click();
    await page.waitForURL(`${sys.base}/admin/exports/${goodId}`);
    for (let h = 0; h < hours; h++) {
      const row = page.locator(`tr[data-run-id="${runIdFor(goodId, sys.start + h * HOUR)}"]`);
      expect(await row.locator('td.records').innerText()).to.equal(String(ConsoleSystem.eventsIn(h)));
      expect(await row.innerText()).to.contain('Completed');
    }
    expect(await page.locator('svg.records-chart rect.bar').count()).to.equal(hours);
    expect(await page.locator('svg.records-chart desc').textContent()).to.contain(`${hours} completed runs`);
    await expectAccessible(page, 'an export page');
    await screenshot(page, 'export');

    // A completed run's page shows its receipt, as GET .../runs/:run_id gives it, and what the
    // scheduler's reconciler found for its interval (RECONCILE_EVERY_MS is short here).
    const first = runIdFor(goodId, sys.start);
    const { receipt } = await sys.api('GET', `/api/exports/${goodId}/runs/${first}`);
    expect(receipt).to.include({ records: ConsoleSystem.eventsIn(0), version: 1 });
    const start = new Date(sys.start).toISOString();
    await eventually(
      async () =>
        (
          (await sys.api('GET', `/api/exports/${goodId}/reconciliation`)).results as Array<{ [k: string]: unknown }>
        ).find((r) => r.data_interval_start === start && r.status === 'ok'),
      60_000,
      'the first interval reconciled',
    );
    await page.locator(`tr[data-run-id="${first}"] th a`).click();
    await page.waitForURL(`${sys.base}/admin/exports/${goodId}/runs/${first}`);
    const shown = await page.locator('dl.receipt dd').allInnerTexts();
    expect(shown.slice(0, 6)).to.deep.equal([
      String(ConsoleSystem.eventsIn(0)),
      receipt.checksum,
      // Formatted as the page's other times (UTC), with the fraction of seconds the receipt carries.
      utcText(receipt.min_inserted_at),
      utcText(receipt.max_inserted_at),
      String(receipt.files.length),
      '1',
    ]);
    const n = ConsoleSystem.eventsIn(0);
    expect(shown[6]).to.match(new RegExp(`^ok: source ${n} rows, exported ${n}; checked \\d{4}-`));
    await expectAccessible(page, 'a completed run');
  });

  it('tests the destination and shows the result in place', async () => {
    await page.goto(`${sys.base}/admin/exports/${goodId}`);
    await page.getByRole('button', { name: 'Test destination' }).click();
    await page.locator('#test-result', { hasText: 'reachable and writable' }).waitFor();
    expect(new URL(page.url()).pathname).to.equal(`/admin/exports/${goodId}`);
  });

  it('pauses and unpauses the export', async () => {
    await page.goto(`${sys.base}/admin/exports/${goodId}`);
    // By keyboard: the skip link first, past the menu to the breadcrumb, then the first button.
    const focused = () => page.locator(':focus').innerText();
    await page.keyboard.press('Tab');
    expect(await focused()).to.equal('Skip to content');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    expect(await focused()).to.equal('Exports');
    await page.keyboard.press('Tab');
    expect(await focused()).to.equal('Pause');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Export paused.' }).waitFor();
    expect(await page.locator('.actions .state').innerText()).to.contain('Paused');
    expect((await sys.api('GET', `/api/exports/${goodId}`)).paused).to.equal(true);
    await page.getByRole('button', { name: 'Unpause' }).click();
    await page.getByRole('status').filter({ hasText: 'Export unpaused.' }).waitFor();
    expect(await page.locator('.actions .state').innerText()).to.contain('Active');
    expect((await sys.api('GET', `/api/exports/${goodId}`)).paused).to.equal(false);
  });

  it('shows a failed run with its error (wrong S3 credentials), and retries it', async () => {
    const bad = await sys.api(
      'POST',
      '/api/exports',
      sys.s3Export('wrong key', { aws_access_key_id: 'WRONG', aws_secret_access_key: 'WRONG' }),
    );
    const failed = await runWith(bad.id, (r) => r.status === 'Failed', 'a failed run');
    await page.goto(`${sys.base}/admin/exports/${bad.id}?status=Failed`);
    await page.locator(`tr[data-run-id="${failed.id}"] th a`).click();
    await page.waitForURL(`${sys.base}/admin/exports/${bad.id}/runs/${failed.id}`);
    failedRunPath = `/admin/exports/${bad.id}/runs/${failed.id}`;
    expect(await page.locator('pre.run-error').innerText()).to.equal(failed.error);
    expect(failed.error).to.match(/InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch/);
    expect(await page.locator('.actions .state').innerText()).to.contain('Failed');
    // What the worker logged for this run: the attempt's start and its error.
    const logs = await page.locator('table.logs').innerText();
    expect(logs).to.contain('InvalidAccessKeyId');
    expect(logs).to.match(/error/);
    await expectAccessible(page, 'a failed run');
    await screenshot(page, 'run-failed');

    await page.getByRole('button', { name: /^Retry run/ }).click();
    await page.getByRole('status').filter({ hasText: 'Run queued again.' }).waitFor();
    await eventually(
      async () => {
        const run = await sys.api('GET', `/api/exports/${bad.id}/runs?limit=1000`);
        const again = (run.results as Run[]).find((r) => r.id === failed.id)!;
        return again.attempts > failed.attempts && again.status === 'Failed' ? again : undefined;
      },
      60_000,
      'the retried run to fail again',
    );
  });

  it('runs a dry-run backfill, then the backfill, and shows its progress until it completes', async () => {
    // Never scheduled: no start_at, so its schedule would begin at the current hour, and end_at (the
    // seeded hours' end) is before that. Open-ended, a scheduler tick after the clock passed an hour
    // would give it a run of its own, and the runs list below would not be empty.
    const exp = await sys.api('POST', '/api/exports', { ...sys.s3Export('backfilled'), start_at: null });
    const range = { start: new Date(sys.start).toISOString(), end: new Date(sys.start + hours * HOUR).toISOString() };
    await page.goto(`${sys.base}/admin/exports/${exp.id}`);
    await field(page, 'Start').fill(range.start);
    await field(page, 'End').fill(range.end);
    await page.getByRole('button', { name: 'Dry run' }).click();
    const plan = page.locator('.dry-run');
    expect((await plan.innerText()).replace(/\s+/g, ' ')).to.contain(`${hours} whole intervals`);
    expect(await plan.locator('.to-export').innerText()).to.equal(`${hours} to export`);
    expect(await plan.locator('.already-exported').innerText()).to.equal('0 already exported');
    expect((await sys.api('GET', `/api/exports/${exp.id}/runs`)).results).to.deep.equal([]);
    await expectAccessible(page, 'a backfill dry run');
    await screenshot(page, 'backfill-dry-run');

    await page.getByRole('button', { name: 'Start backfill' }).click();
    await page.waitForURL(/\?backfill=/);
    // The page is not loaded again: console.js updates the panel in place.
    await page.evaluate(() => ((globalThis as any).stillTheSamePage = true));
    const text = page.locator('.backfill-progress .backfill-text');
    await text.filter({ hasText: 'Completed' }).waitFor({ timeout: 60_000 });
    const total = [...Array(hours).keys()].reduce((sum, h) => sum + ConsoleSystem.eventsIn(h), 0);
    expect(await text.innerText())
      .to.contain(`${hours} of ${hours} runs finished`)
      .and.contain(`${total} records`);
    expect(await page.evaluate(() => (globalThis as any).stillTheSamePage)).to.equal(true);
    expect(await page.locator('.backfill-progress progress').getAttribute('value')).to.equal('1');
    await expectAccessible(page, 'a finished backfill');
    await screenshot(page, 'backfill-done');

    await page.reload();
    for (let h = 0; h < hours; h++) {
      const row = page.locator(`tr[data-run-id="${runIdFor(exp.id, sys.start + h * HOUR)}"]`);
      expect(await row.locator('td.records').innerText()).to.equal(String(ConsoleSystem.eventsIn(h)));
    }
    await sys.api('DELETE', `/api/exports/${exp.id}`);
  });

  it('cancels a backfill whose runs wait for a paused export', async () => {
    // Not scheduled (as above): the backfill's are its only runs, whatever the clock does meanwhile.
    const exp = await sys.api('POST', '/api/exports', { ...sys.s3Export('held'), start_at: null, paused: true });
    await page.goto(`${sys.base}/admin/exports/${exp.id}`);
    await field(page, 'Start').fill(new Date(sys.start).toISOString());
    await field(page, 'End').fill(new Date(sys.start + hours * HOUR).toISOString());
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByRole('button', { name: 'Start backfill' }).click();
    await page.waitForURL(/\?backfill=/);
    expect(await page.locator('.backfill-progress .backfill-text').innerText()).to.contain('Running');
    await page.getByRole('link', { name: 'Cancel backfill' }).click();
    await page.getByRole('button', { name: 'Yes, cancel the backfill' }).click();
    await page.getByRole('status').filter({ hasText: 'Backfill cancelled.' }).waitFor();
    expect(await page.locator('.backfill-progress .backfill-text').innerText()).to.contain('Cancelled');
    const runs = (await sys.api('GET', `/api/exports/${exp.id}/runs`)).results as Run[];
    expect(runs.every((r) => r.status === 'Cancelled')).to.equal(true);
    await sys.api('DELETE', `/api/exports/${exp.id}`);
  });

  it('cancels a run that waits for its next attempt', async () => {
    const down = await sys.api(
      'POST',
      '/api/exports',
      sys.s3Export('unreachable', { endpoint_url: 'http://127.0.0.1:9' }),
    );
    const waiting = await runWith(down.id, (r) => r.status === 'FailedRetryable', 'a run waiting to retry');
    await page.goto(`${sys.base}/admin/exports/${down.id}/runs/${waiting.id}`);
    expect(await page.locator('.actions .state').innerText()).to.contain('Failed, will retry');
    await page.getByRole('link', { name: /^Cancel run/ }).click();
    await page.getByRole('button', { name: 'Yes, cancel the run' }).click();
    await page.getByRole('status').filter({ hasText: 'Run cancelled.' }).waitFor();
    expect(await page.locator('.actions .state').innerText()).to.contain('Cancelled');
    await sys.api('DELETE', `/api/exports/${down.id}`);
  });

  it('creates an export through the form, showing a validation error at its field first', async () => {
    await page.goto(`${sys.base}/admin/exports`);
    await page.getByRole('link', { name: 'New export' }).first().click();
    await page.waitForURL(`${sys.base}/admin/exports/new`);
    await expectAccessible(page, 'the new export form');
    await screenshot(page, 'export-new');
    await field(page, 'Name').fill('made in the console');
    await field(page, 'Team id').fill('1');
    await field(page, 'Interval').selectOption('day');
    await field(page, 'Bucket name').fill('Not A Bucket');
    await field(page, 'Endpoint URL').fill(testEnv.S3_ENDPOINT_URL);
    await field(page, 'AWS access key id').fill('S3RVER');
    await field(page, 'AWS secret access key').fill('typed-secret-0451');
    await page.getByRole('button', { name: 'Create export' }).click();

    const bucket = field(page, 'Bucket name');
    expect(await bucket.getAttribute('aria-invalid')).to.equal('true');
    const describedBy = (await bucket.getAttribute('aria-describedby'))!.split(' ');
    const message = await page.locator(`#${describedBy.find((id) => id.endsWith('-error'))}`).innerText();
    expect(message).to.contain('must be a valid S3 bucket name');
    expect(await page.locator('.error-summary').innerText()).to.contain('Bucket name');
    // What was typed is kept, except the secret, which is never sent back to a page.
    expect(await field(page, 'Name').inputValue()).to.equal('made in the console');
    expect(await field(page, 'AWS secret access key').inputValue()).to.equal('');
    expect(await page.content()).to.not.contain('typed-secret-0451');
    await expectAccessible(page, 'the form with an error');
    await screenshot(page, 'export-new-error');

    await bucket.fill(sys.bucket);
    await field(page, 'AWS secret access key').fill('S3RVER');
    await page.getByRole('button', { name: 'Create export' }).click();
    await page.getByRole('status').filter({ hasText: 'Export created.' }).waitFor();
    const id = new URL(page.url()).pathname.split('/').pop()!;
    const created = await sys.api('GET', `/api/exports/${id}`);
    expect(created).to.deep.include({ name: 'made in the console', team_id: 1, interval: 'day' });
    expect(created.destination.config.bucket_name).to.equal(sys.bucket);
  });

  it('edits an export: a secret left empty is kept', async () => {
    await page.goto(`${sys.base}/admin/exports/${goodId}/edit`);
    await expectAccessible(page, 'the edit form');
    await screenshot(page, 'export-edit');
    expect(await field(page, 'AWS secret access key').inputValue()).to.equal('');
    await field(page, 'Name').fill('events to S3, renamed');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Changes saved.' }).waitFor();
    expect((await sys.api('GET', `/api/exports/${goodId}`)).name).to.equal('events to S3, renamed');
    // The stored secret still works: the destination test signs with it.
    expect((await sys.api('POST', `/api/exports/${goodId}/test`)).status).to.equal('ok');
  });

  it('links to Bull Board, and Bull Board links back to the console', async () => {
    await page.goto(`${sys.base}/admin/exports`);
    await page.getByRole('link', { name: 'Queues (Bull Board)' }).click();
    await page.waitForURL(/\/admin\/queues/);
    // Bull Board puts its miscLinks in the menu of its header.
    await page.locator('button[aria-haspopup="menu"]').last().click();
    await page.getByRole('menuitem', { name: 'Exports console' }).click();
    await page.waitForURL(`${sys.base}/admin/exports`);
  });
});
