import { RUNS_SCANNED_MAX } from '@bx/operations';
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { ApiHarness } from '../helpers/api-harness';
import { exportFixture } from '../helpers/export-fixture';

const FIVE_MINUTES = 300_000;
const runIdOf = (exportId: string, start: number) =>
  `${exportId}-${new Date(start)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;

/**
 * GET /api/exports/:id/runs?status= on an export with many runs: it read
 * every run record in one request (100,000 runs, none in the status: 6.6 s)
 * to fill a page. A page looks at RUNS_SCANNED_MAX runs at most; `next`
 * goes on from where it stopped.
 */
describe('GET /api/exports/:id/runs with a status few of many runs have', function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  let exportId: string;
  const total = RUNS_SCANNED_MAX + 500;
  const first = Date.UTC(2025, 0, 1);
  const oldest = () => runIdOf(exportId, first);

  before(async () => {
    sut = await new ApiHarness().start();
    exportId = randomUUID();
    // Stored as the API would (paused: no run starts); the runs below are what the test is about.
    await sut.store.exports.create(
      exportFixture(exportId, Date.now(), { interval: 'every 5 minutes', paused: true }),
      first,
      null,
      10,
    );
    const runs = Array.from({ length: total }, (_, i) => {
      const start = first + i * FIVE_MINUTES;
      return {
        id: runIdOf(exportId, start),
        export_id: exportId,
        data_interval_start: start,
        data_interval_end: start + FIVE_MINUTES,
      };
    });
    await sut.store.runs.createMany(runs);
    expect(await sut.store.runs.cancel(oldest())).to.equal(true);
  });
  after(() => sut.close());

  it(`looks at ${RUNS_SCANNED_MAX} runs a page at most, and next goes on from there`, async () => {
    const page = await sut.call('GET', `/api/exports/${exportId}/runs?status=Cancelled&limit=10`);
    expect(page.status).to.equal(200);
    expect(page.json.results, 'the only Cancelled run is past the first 10,000').to.deep.equal([]);
    // The newest run is number total - 1; the page stopped at the RUNS_SCANNED_MAX-th newest.
    const stoppedAt = new Date(first + (total - RUNS_SCANNED_MAX) * FIVE_MINUTES).toISOString();
    expect(page.json.next).to.equal(stoppedAt);

    const rest = await sut.call(
      'GET',
      `/api/exports/${exportId}/runs?status=Cancelled&limit=10&cursor=${encodeURIComponent(page.json.next)}`,
    );
    expect(rest.json.results.map((r: { id: string }) => r.id)).to.deep.equal([oldest()]);
    expect(rest.json.results[0].status).to.equal('Cancelled');
    expect(rest.json.next).to.equal(null);
  });

  it(`next is null when exactly ${RUNS_SCANNED_MAX} runs were left to look at (the following page was empty)`, async () => {
    const runs = (query: string) => sut.call('GET', `/api/exports/${exportId}/runs?${query}`);
    // Runs 0 .. RUNS_SCANNED_MAX - 1 are older than this cursor: exactly a page's scan, none Completed.
    const cursor = encodeURIComponent(new Date(first + RUNS_SCANNED_MAX * FIVE_MINUTES).toISOString());
    const page = await runs(`status=Completed&limit=10&cursor=${cursor}`);
    expect(page.status).to.equal(200);
    expect(page.json.results).to.deep.equal([]);
    expect(page.json.next, 'nothing is older than the last run it looked at').to.equal(null);

    // The same with the range filters: [start, end) holds exactly RUNS_SCANNED_MAX runs.
    const start = encodeURIComponent(new Date(first + 100 * FIVE_MINUTES).toISOString());
    const end = encodeURIComponent(new Date(first + (100 + RUNS_SCANNED_MAX) * FIVE_MINUTES).toISOString());
    const ranged = await runs(`status=Completed&limit=10&start=${start}&end=${end}`);
    expect(ranged.json.results).to.deep.equal([]);
    expect(ranged.json.next).to.equal(null);

    // One more run left than a page looks at: next still goes on, to the one left.
    const over = encodeURIComponent(new Date(first + (RUNS_SCANNED_MAX + 1) * FIVE_MINUTES).toISOString());
    const more = await runs(`status=Cancelled&limit=10&cursor=${over}`);
    expect(more.json.results).to.deep.equal([]);
    expect(more.json.next).to.equal(new Date(first + FIVE_MINUTES).toISOString());
    const last = await runs(`status=Cancelled&limit=10&cursor=${encodeURIComponent(more.json.next)}`);
    expect(last.json.results.map((r: { id: string }) => r.id)).to.deep.equal([oldest()]);
    expect(last.json.next).to.equal(null);
  });

  it('the console says a page of the filter found none yet, and its link goes on to the older runs', async () => {
    const html = (path: string) => sut.call('GET', path, { headers: { accept: 'text/html' } });
    const page = await html(`/admin/exports/${exportId}?status=Cancelled`);
    expect(page.status).to.equal(200);
    expect(page.text).to.contain('No Cancelled runs among the newest ones looked at; older runs follow.');
    const older = /<a\s+rel="next"\s+href="([^"]+)"/.exec(page.text)![1]!.replace(/&amp;/g, '&');
    const rest = await html(older);
    expect(rest.text).to.contain(`/admin/exports/${exportId}/runs/${oldest()}`);
  });

  it('a page without a status is full, as before', async () => {
    const page = await sut.call('GET', `/api/exports/${exportId}/runs?limit=1000`);
    expect(page.json.results).to.have.length(1000);
    expect(page.json.results[0].id).to.equal(runIdOf(exportId, first + (total - 1) * FIVE_MINUTES));
    expect(page.json.next).to.equal(page.json.results[999].data_interval_start);
  });
});
