import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';

/**
 * The lists' query parameters filter what a script acts on. A misspelt one
 * (`teamid=5`, `team_id[]=5`, `state=Failed`) was ignored: the answer was the
 * unfiltered list with 200, every team's exports for "team 5's". Unknown
 * parameters are a 400 naming them, as unknown body fields are.
 */
describe('the lists refuse query parameters they do not know', function () {
  this.timeout(30_000);
  let sut: ApiHarness;
  let exportId: string;

  before(async () => {
    sut = await new ApiHarness().start();
    exportId = await sut.createS3Export('unknown-query');
  });
  after(() => sut.close());

  const expectUnknown = (res: { status: number; text: string; json: any }, names: string[]) => {
    expect(res.status, res.text).to.equal(400);
    expect(res.json.error.code).to.equal('invalid_input');
    expect(res.json.error.details).to.deep.equal(names.map((field) => ({ field, message: 'unknown parameter' })));
    for (const name of names) expect(res.json.error.message).to.contain(name);
  };

  it('GET /api/exports?teamid=2 or team_id[]=2: 400 naming it, not every team', async () => {
    expectUnknown(await sut.call('GET', '/api/exports?teamid=2'), ['teamid']);
    expectUnknown(await sut.call('GET', '/api/exports?team_id%5B%5D=2'), ['team_id[]']);
    expectUnknown(await sut.call('GET', '/api/exports?limit=5&Team_ID=2&page=3'), ['Team_ID', 'page']);
  });

  it('GET /api/exports/:id/runs?state=Failed: 400 naming it, not every run', async () => {
    expectUnknown(await sut.call('GET', `/api/exports/${exportId}/runs?state=Failed`), ['state']);
    expectUnknown(await sut.call('GET', `/api/exports/${exportId}/runs?from=2024-01-01&to=2024-02-01`), ['from', 'to']);
  });

  it('the parameters they know still work', async () => {
    const exports = await sut.call('GET', '/api/exports?team_id=1&limit=5');
    expect(exports.status, exports.text).to.equal(200);
    expect(exports.json.results.map((e: { id: string }) => e.id)).to.deep.equal([exportId]);
    const runs = await sut.call(
      'GET',
      `/api/exports/${exportId}/runs?status=Failed&limit=5&start=2024-01-01&end=2024-02-01`,
    );
    expect(runs.status, runs.text).to.equal(200);
  });
});
