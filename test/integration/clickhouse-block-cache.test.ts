import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { ClickHouseSource } from '@bx/clickhouse';
import { TestClickHouse, queryLogEntry, testClickHouseSource } from '../helpers/clickhouse';
import { chTime, makeEvent } from '../helpers/events';

const START = Date.parse('2024-01-01T10:00:00Z');
const END = Date.parse('2024-01-01T11:00:00Z');

describe("a run's query and ClickHouse's cache of decompressed blocks (real ClickHouse 18.16)", function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let sut: ClickHouseSource;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(
      [1, 2].flatMap((team) =>
        Array.from({ length: 3 }, () => makeEvent({ inserted_at: chTime('2024-01-01T10:10:00Z'), team_id: team })),
      ),
    );
    sut = testClickHouseSource({ requestTimeoutMs: 30_000 });
  });
  after(async () => {
    await sut.close();
    await ch.drop();
  });

  /** Runs team `teamId`'s query as a run does and returns its row count and ProfileEvents, from system.query_log. */
  async function run(teamId: number): Promise<{ rows: number; events: Map<string, number> }> {
    const queryId = randomUUID();
    const sql = ch.eventsQuery(teamId, START, END);
    let rows = 0;
    for await (const batch of sut.batches({ sql, settings: { log_queries: 1, query_id: queryId } }))
      rows += batch.count;
    return { rows, events: (await queryLogEntry(ch.client, queryId)).events };
  }

  it('reads the granules another run of the interval read from the cache, not the files', async () => {
    expect((await run(1)).rows).to.equal(3);
    const second = await run(2);
    expect(second.rows).to.equal(3);
    expect(second.events.get('UncompressedCacheHits') ?? 0).to.be.above(0);
    expect(second.events.get('ReadCompressedBytes') ?? 0).to.equal(0);
  });
});
