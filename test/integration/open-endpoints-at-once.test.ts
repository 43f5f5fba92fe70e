import { expect } from 'chai';
import { ApiHarness } from '../helpers/api-harness';

/**
 * /metrics and /healthz need no token: anyone who reaches the port may send
 * as many requests at once as they like. What those cost Redis and
 * ClickHouse must not grow with their number.
 */
describe('the open endpoints: requests at once share one read', () => {
  const AT_ONCE = 50;
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
    for (let i = 0; i < 3; i++) {
      const config = { host: 'db.example.com', database: 'd', user: 'u', password: 'secret-0123', table_name: 't' };
      const body = {
        name: `m${i}`,
        team_id: 1,
        interval: 'hour',
        paused: true,
        destination: { type: 'Postgres', config },
      };
      expect((await sut.call('POST', '/api/exports', { body })).status).to.equal(201);
    }
  });
  after(() => sut.close());

  /**
   * `path` asked AT_ONCE times without a token while `owner[method]` (what the
   * endpoint reads) is held: its first call finishes once every request has
   * arrived. Then the path once more alone. The answers, and how often the
   * read ran.
   */
  async function atOnce<K extends string>(path: string, owner: Record<K, () => Promise<unknown>>, method: K) {
    const read = owner[method].bind(owner);
    let reads = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    owner[method] = async () => {
      reads++;
      await held;
      return read();
    };
    let arrived = 0;
    const allArrived = new Promise<void>((resolve) => {
      const count = () => {
        if (++arrived < AT_ONCE) return;
        sut.server!.off('request', count);
        resolve();
      };
      sut.server!.on('request', count);
    });
    try {
      const answers = Array.from({ length: AT_ONCE }, () => sut.call('GET', path, { token: null }));
      await allArrived;
      release();
      const crowd = await Promise.all(answers);
      const readsByCrowd = reads;
      const alone = await sut.call('GET', path, { token: null });
      return { crowd, readsByCrowd, alone, reads };
    } finally {
      owner[method] = read;
    }
  }

  it('GET /metrics: one read of every export for the requests that came together, one answer for all', async () => {
    // A scrape reads every export's record (MGET of all of them) and their pending runs.
    const { crowd, readsByCrowd, alone, reads } = await atOnce('/metrics', sut.store.stats, 'snapshot');
    expect(crowd.map((a) => a.status)).to.deep.equal(Array(AT_ONCE).fill(200));
    expect(new Set(crowd.map((a) => a.text)).size, 'one answer').to.equal(1);
    expect(crowd[0]!.text).to.contain('bx_export_rows_total');
    expect(readsByCrowd, 'reads of every export').to.equal(1);
    // A scrape right after them is answered from that reading (kept METRICS_KEEP_MS).
    expect(alone.status).to.equal(200);
    expect(reads).to.equal(1);
  });

  it('GET /healthz: one ClickHouse ping for the requests that came together', async () => {
    const { crowd, readsByCrowd, alone, reads } = await atOnce('/healthz', sut.clickhouse, 'ping');
    expect(crowd.map((a) => a.json)).to.deep.equal(
      Array(AT_ONCE).fill({ status: 'ok', redis: 'ok', clickhouse: 'ok' }),
    );
    expect(readsByCrowd, 'ClickHouse pings').to.equal(1);
    // A check right after them is answered from that ping (kept HEALTH_KEEP_MS).
    expect(alone.status).to.equal(200);
    expect(reads).to.equal(1);
  });
});
