import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';

describe('GET /metrics: scrapes at once read Redis once', () => {
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
    for (let i = 0; i < 3; i++) {
      const body = {
        name: `m${i}`,
        team_id: 1,
        interval: 'hour',
        paused: true,
        destination: {
          type: 'Postgres',
          config: { host: 'db.example.com', database: 'd', user: 'u', password: 'secret-0123', table_name: 't' },
        },
      };
      expect((await sut.call('POST', '/api/exports', { body })).status).to.equal(201);
    }
  });
  after(() => sut.close());

  it('50 requests without a token while one scrape reads every export: one read, one answer for all', async () => {
    // A scrape reads every export's record; anyone may send one, and as many at once as they like.
    const stats = sut.store.stats;
    const read = stats.snapshot.bind(stats);
    let reads = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    stats.snapshot = async () => {
      reads++;
      await held;
      return read();
    };
    const scrapes = 50;
    let arrived = 0;
    const allArrived = new Promise<void>((resolve) =>
      sut.server!.on('request', () => {
        if (++arrived === scrapes) resolve();
      }),
    );
    const answers = Array.from({ length: scrapes }, () => sut.call('GET', '/metrics', { token: null }));
    await allArrived;
    release();
    const done = await Promise.all(answers);
    expect(done.map((a) => a.status)).to.deep.equal(Array(scrapes).fill(200));
    expect(new Set(done.map((a) => a.text)).size, 'one answer').to.equal(1);
    expect(done[0]!.text).to.contain('bx_export_rows_total');
    expect(reads, 'reads of every export').to.equal(1);
    // A scrape after them reads again: nothing is kept between scrapes.
    expect((await sut.call('GET', '/metrics', { token: null })).status).to.equal(200);
    expect(reads).to.equal(2);
  });
});
