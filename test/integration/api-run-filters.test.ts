import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';

const HOUR = 3_600_000;
/**
 * The `start` and `end` filters of GET /api/exports/:id/runs select runs that
 * are stored; they bound no schedule and no ClickHouse query. They were read
 * as a schedule's instants are (1970 to 2100), so `end=9999-12-31`, the
 * usual "no end", was a 400.
 */
describe('GET /api/exports/:id/runs filters take any four-digit year', function () {
  this.timeout(30_000);
  let sut: ApiHarness;
  let exportId: string;
  const first = Date.UTC(2024, 1, 28, 22);
  const starts = [0, 1, 2, 3].map((i) => first + i * HOUR);

  before(async () => {
    sut = await new ApiHarness().start();
    exportId = await sut.createS3Export('run-filters');
    await sut.createHourlyRuns(exportId, starts);
  });
  after(() => sut.close());

  const startsOf = (res: { json: { results: Array<{ data_interval_start: string }> } }) =>
    res.json.results.map((r) => Date.parse(r.data_interval_start));

  it('end=9999-12-31 (and its last instant) lists every run, newest first', async () => {
    for (const end of ['9999-12-31', '9999-12-31T23:59:59.999Z', '2100-01-01T00:00:00Z']) {
      const res = await sut.call('GET', `/api/exports/${exportId}/runs?end=${encodeURIComponent(end)}`);
      expect(res.status, `${end}: ${res.text}`).to.equal(200);
      expect(startsOf(res), end).to.deep.equal([...starts].reverse());
    }
  });

  it('start=0000-01-01 and start=1969-12-31 list every run; start=9999-12-31 none', async () => {
    for (const start of ['0000-01-01T00:00:00Z', '1969-12-31T23:00:00Z']) {
      const res = await sut.call('GET', `/api/exports/${exportId}/runs?start=${encodeURIComponent(start)}`);
      expect(res.status, `${start}: ${res.text}`).to.equal(200);
      expect(startsOf(res), start).to.deep.equal([...starts].reverse());
    }
    const none = await sut.call('GET', `/api/exports/${exportId}/runs?start=9999-12-31`);
    expect(none.status, none.text).to.equal(200);
    expect(none.json).to.deep.equal({ results: [], next: null });
  });

  it('a leap day ending at T24:00 is the start of the next day', async () => {
    const res = await sut.call(
      'GET',
      `/api/exports/${exportId}/runs?start=2024-02-29T00:00:00Z&end=2024-02-29T24:00:00Z`,
    );
    expect(res.status, res.text).to.equal(200);
    expect(startsOf(res)).to.deep.equal([starts[3], starts[2]]);
  });

  it('a year past 9999 or a date that does not exist is still a 400 naming the filter', async () => {
    for (const [field, value] of [
      ['end', '10000-01-01T00:00:00Z'],
      ['end', '9999-12-31T23:00:00-05:00'],
      ['start', '2023-02-29T00:00:00Z'],
    ] as const) {
      const res = await sut.call('GET', `/api/exports/${exportId}/runs?${field}=${encodeURIComponent(value)}`);
      expect(res.status, `${field}=${value}: ${res.text}`).to.equal(400);
      expect(res.json.error.details.map((d: { field: string }) => d.field)).to.deep.equal([field]);
      expect(res.json.error.message).to.contain(value);
    }
  });

  it('a date that does not exist names the part out of range, in a filter and in a backfill', async () => {
    const filter = await sut.call('GET', `/api/exports/${exportId}/runs?start=2023-02-29T00:00:00Z`);
    expect(filter.json.error.details).to.deep.equal([
      { field: 'start', message: "'2023-02-29T00:00:00Z' does not exist: day 29 is out of range" },
    ]);
    const backfill = await sut.call('POST', `/api/exports/${exportId}/backfills`, {
      body: { start_at: '2024-01-01T00:00:00Z', end_at: '2024-01-01T25:00:00Z', dry_run: true },
    });
    expect(backfill.status, backfill.text).to.equal(400);
    expect(backfill.json.error.details).to.deep.equal([
      { field: 'end_at', message: "'2024-01-01T25:00:00Z' does not exist: hour 25 is out of range" },
    ]);
  });
});
