import { RUNS_PAGE_BYTES } from '@bx/operations';
import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';

const HOUR = 3_600_000;
/** Split files of one run (max_file_size_mb 1 over a large interval): about 240 KB of keys. */
const FILES_PER_RUN = 2_000;

/**
 * A run's `files` lists every object it wrote: an S3 export split at
 * `max_file_size_mb: 1` writes thousands a run. GET .../runs?limit=1000 read
 * and answered all of them at once (here 40 runs: 10 MB; 1,000 such runs a
 * page: about 240 MB, from one request). A page stops early at about 4 MiB,
 * with `next` set, as a page of exports does.
 */
describe('GET /api/exports/:id/runs of runs with many files', function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  let exportId: string;
  const first = Date.UTC(2024, 0, 1);
  const count = 40;

  before(async () => {
    sut = await new ApiHarness().start();
    exportId = await sut.createS3Export('run-page-bytes');
    // Runs of a paused export do not start: unpaused, with no scheduler or worker here to run them.
    expect((await sut.call('POST', `/api/exports/${exportId}/unpause`)).status).to.equal(200);
    const starts = Array.from({ length: count }, (_, i) => first + i * HOUR);
    for (const id of await sut.createHourlyRuns(exportId, starts)) {
      const files = Array.from(
        { length: FILES_PER_RUN },
        (_, n) => `exports/team-1/${id}-${String(n).padStart(6, '0')}.jsonl.gz`,
      );
      await sut.store.runs.start(id);
      expect(await sut.store.runs.complete(id, { records: FILES_PER_RUN, bytes: 1, files })).to.equal('ok');
    }
  });
  after(() => sut.close());

  it('a page stops at about 4 MiB with next; following next lists every run once, newest first', async () => {
    const seen: string[] = [];
    let path = `/api/exports/${exportId}/runs?limit=1000`;
    for (let pages = 0; ; pages++) {
      expect(pages, 'pages').to.be.below(count);
      const res = await sut.call('GET', path);
      expect(res.status, res.text.slice(0, 300)).to.equal(200);
      // One run past the cap at most: a page holds at least one run, however large.
      expect(res.text.length, 'page bytes').to.be.below(RUNS_PAGE_BYTES + 400_000);
      expect(res.json.results.length).to.be.above(0);
      seen.push(...res.json.results.map((r: { data_interval_start: string }) => r.data_interval_start));
      if (res.json.next === null) break;
      path = `/api/exports/${exportId}/runs?limit=1000&cursor=${encodeURIComponent(res.json.next)}`;
    }
    const expected = Array.from({ length: count }, (_, i) => new Date(first + (count - 1 - i) * HOUR).toISOString());
    expect(seen).to.deep.equal(expected);
  });

  it('a page of small runs is whole, as before', async () => {
    const res = await sut.call('GET', `/api/exports/${exportId}/runs?limit=3`);
    expect(res.json.results).to.have.length(3);
    expect(res.json.next).to.equal(new Date(first + (count - 3) * HOUR).toISOString());
  });

  it('a last run past the cap on its own gets no next (no empty page after it)', async () => {
    const single = await sut.createS3Export('run-page-bytes-one');
    expect((await sut.call('POST', `/api/exports/${single}/unpause`)).status).to.equal(200);
    const [id] = await sut.createHourlyRuns(single, [first]);
    const files = Array.from({ length: 80_000 }, (_, n) => `exports/team-1/${id}-${String(n).padStart(6, '0')}.jsonl`);
    await sut.store.runs.start(id!);
    expect(await sut.store.runs.complete(id!, { records: 1, bytes: 1, files })).to.equal('ok');
    const res = await sut.call('GET', `/api/exports/${single}/runs?limit=1000`);
    expect(res.text.length, 'past the cap').to.be.above(RUNS_PAGE_BYTES);
    expect(res.json.results).to.have.length(1);
    expect(res.json.next).to.equal(null);
  });
});
