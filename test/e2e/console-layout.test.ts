import { runIdFor } from '@bx/core';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiHarness, TOKEN } from '../helpers/api-harness';
import { expectAccessible, launchChromium, screenshot } from '../helpers/browser';

const HOUR = 3_600_000;
/** What users paste and workers log: a URL, a path or a JSON blob has no space to break at. */
const LONG_WORD = 'https://very-long-host-name.example.com/'.padEnd(600, 'x');

/**
 * The console with hostile text (a name, an error, a log line and a file
 * name of one 600-character word) on a desktop and a phone: the page itself
 * never scrolls sideways, so nothing is cut off at its right edge. A wide
 * table scrolls in its own box. Chromium over the in-process API.
 */
describe('web console layout with long words, desktop and phone', function () {
  this.timeout(120_000);
  let sut: ApiHarness;
  let browser: Browser;
  let exportId: string;
  let runPath: string;
  let donePath: string;
  let cancelPath: string;

  before(async function () {
    this.timeout(180_000);
    sut = await new ApiHarness().start();
    const created = await sut.call('POST', '/api/exports', {
      body: {
        name: `تصدير ${LONG_WORD.slice(0, 240)}`,
        team_id: 1,
        interval: 'hour',
        // An event name is one word of up to 200 characters (a URL, a path): shown in the settings.
        include_events: [LONG_WORD.slice(0, 200)],
        destination: {
          type: 'S3',
          config: { bucket_name: 'bucket-one', aws_access_key_id: 'AKIA', aws_secret_access_key: 'secret' },
        },
      },
    });
    expect(created.status, created.text).to.equal(201);
    exportId = created.json.id;
    const start = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const failed = runIdFor(exportId, start);
    const done = runIdFor(exportId, start + HOUR);
    await sut.store.runs.createMany(
      [failed, done].map((id, i) => ({
        id,
        export_id: exportId,
        data_interval_start: start + i * HOUR,
        data_interval_end: start + (i + 1) * HOUR,
      })),
    );
    await sut.store.runs.start(failed);
    await sut.store.runs.fail(failed, 'Failed', `connection refused: ${LONG_WORD}`);
    await sut.store.runLogs.append(failed, [
      { timestamp: new Date().toISOString(), level: 'error', message: `upload failed: ${LONG_WORD}` },
    ]);
    await sut.store.runs.start(done);
    await sut.store.runs.complete(done, { records: 5, bytes: 500, files: [`${LONG_WORD}.jsonl`] });
    const backfill = await sut.call('POST', `/api/exports/${exportId}/backfills`, {
      body: { start_at: new Date(start - 3 * HOUR).toISOString(), end_at: new Date(start).toISOString() },
    });
    expect(backfill.status, backfill.text).to.equal(201);
    cancelPath = `/admin/exports/${exportId}/backfills/${backfill.json.id}/cancel`;
    runPath = `/admin/exports/${exportId}/runs/${failed}`;
    donePath = `/admin/exports/${exportId}/runs/${done}`;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await sut?.close();
  });

  for (const [device, viewport] of [
    ['desktop', { width: 1360, height: 900 }],
    ['phone', { width: 390, height: 844 }],
  ] as const) {
    describe(`on a ${device} (${viewport.width} px wide)`, () => {
      let context: BrowserContext;
      let page: Page;
      before(async () => {
        context = await browser.newContext({ viewport, extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } });
        page = await context.newPage();
      });
      after(() => context?.close());

      const pages = () => [
        ['exports list', '/admin/exports'],
        ['export page', `/admin/exports/${exportId}`],
        ['run page', runPath],
        ['completed run page', donePath],
        ['cancel backfill page', cancelPath],
      ];

      it('no page is wider than the window', async () => {
        const wide: string[] = [];
        for (const [what, path] of pages()) {
          const res = await page.goto(sut.base + path!);
          expect(res?.status(), what).to.equal(200);
          await screenshot(page, `layout-${device}-${what!.replace(/ /g, '-')}`);
          const { scroll, client } = await page.evaluate(() => {
            const root = (globalThis as any).document.documentElement;
            return { scroll: root.scrollWidth as number, client: root.clientWidth as number };
          });
          if (scroll > client) wide.push(`${what}: ${scroll} px in a ${client} px window`);
        }
        expect(wide).to.deep.equal([]);
      });

      it('a long export name, error and log line stay whole and readable', async () => {
        const checks = [
          [runPath, ['pre.run-error', 'table.logs td.message', '.trail li']],
          [donePath, ['ul.files li']],
        ] as const;
        for (const [path, selectors] of checks) {
          await page.goto(sut.base + path);
          for (const selector of selectors) {
            const el = page.locator(selector).last();
            const box = await el.boundingBox();
            expect(box, selector).to.not.equal(null);
            expect(box!.x + box!.width, `${selector} ends inside the window`).to.be.at.most(viewport.width);
            const cut = await el.evaluate((e) => e.scrollWidth - e.clientWidth);
            expect(cut, `${selector}: text wider than its box`).to.be.at.most(1);
          }
        }
        await page.goto(sut.base + runPath);
        expect(await page.locator('pre.run-error').textContent()).to.contain(LONG_WORD);
        await page.goto(`${sut.base}/admin/exports/${exportId}`);
        const h1 = await page.locator('h1').boundingBox();
        expect(h1!.x + h1!.width, 'the title ends inside the window').to.be.at.most(viewport.width);
        await expectAccessible(page, `the export page on a ${device}`);
      });
    });
  }
});
