import { expect } from 'chai';
import { ClickHouseSource } from '@bx/clickhouse';
import { RetryableError, type EventRow } from '@bx/core';
import { TestClickHouse } from '../helpers/clickhouse';
import { testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';

const START = Date.parse('2024-01-01T10:00:00Z');
const END = Date.parse('2024-01-01T11:00:00Z');

describe('ClickHouse queries on keep-alive connections (real ClickHouse 18.16, through a proxy)', () => {
  let ch: TestClickHouse;
  let proxy: TcpFaultProxy;
  let sut: ClickHouseSource;
  /** The events query of a team's hour. */
  const query = (teamId: number) => ch.eventsQuery(teamId, START, END);
  const teams = [1, 2, 3].map((team) =>
    Array.from({ length: team * 2 }, () => makeEvent({ inserted_at: chTime('2024-01-01T10:10:00Z'), team_id: team })),
  );
  // About 3 MB: more than a source reads ahead.
  const big = Array.from({ length: 3000 }, () =>
    makeEvent({
      inserted_at: chTime('2024-01-01T10:20:00Z'),
      team_id: 9,
      properties: JSON.stringify({ p: 'x'.repeat(1000) }),
    }),
  );
  const uuids = (rows: Array<{ uuid: string }>) => rows.map((r) => r.uuid).sort();
  const rowsOf = async (teamId: number, signal?: AbortSignal): Promise<EventRow[]> => {
    const rows: EventRow[] = [];
    // Batch memory reused, as the worker asks: a read into a finished query's buffer would show here.
    for await (const batch of sut.batches(query(teamId), signal, { reuseBuffers: true })) rows.push(...batch.rows());
    return rows;
  };

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert([...teams.flat(), ...big]);
    proxy = await new TcpFaultProxy(Number(new URL(testEnv.CLICKHOUSE_URL).port)).start();
  });
  beforeEach(() => {
    sut = new ClickHouseSource({
      url: `http://127.0.0.1:${proxy.port}`,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      batchBytes: 64 * 1024,
      readAheadBytes: 128 * 1024,
    });
    proxy.accepted = 0;
    proxy.fault = 'none';
  });
  afterEach(async () => sut.close());
  after(async () => {
    await proxy.stop();
    await ch.drop();
  });

  it('runs query after query on one connection, each with its own rows', async () => {
    for (let round = 0; round < 3; round++) {
      for (const team of [1, 2, 3]) expect(uuids(await rowsOf(team))).to.deep.equal(uuids(teams[team - 1]!));
    }
    expect(proxy.accepted).to.equal(1);
    // Queries at once each have a connection; afterwards they are reused.
    const together = await Promise.all([1, 2, 3].map((team) => rowsOf(team)));
    expect(together.map(uuids)).to.deep.equal(teams.map(uuids));
    expect(proxy.accepted).to.equal(3);
    await Promise.all([1, 2, 3].map((team) => rowsOf(team)));
    expect(proxy.accepted).to.equal(3);
  });

  it('sends the query again on a new connection when the server closed the idle one as the request came', async () => {
    expect(uuids(await rowsOf(2))).to.deep.equal(uuids(teams[1]!));
    proxy.fault = 'close-reused';
    expect(uuids(await rowsOf(3))).to.deep.equal(uuids(teams[2]!));
    expect(proxy.accepted).to.equal(2);
  });

  it('does not reuse a connection whose query was given up before its end', async () => {
    const abort = new AbortController();
    abort.abort();
    const err = await rowsOf(1, abort.signal).catch((e: unknown) => e);
    expect((err as RetryableError).code).to.equal('Aborted');
    // Stopped after its first batch: the rest of the answer is never read, so the connection goes.
    const it = sut.batches(query(9), undefined, { reuseBuffers: true });
    expect((await it.next()).done).to.equal(false);
    await it.return(undefined);
    const accepted = proxy.accepted;
    expect(uuids(await rowsOf(2))).to.deep.equal(uuids(teams[1]!));
    expect(proxy.accepted).to.equal(accepted + 1);
  });

  it('fails, retryably, a query whose new connection closes unanswered (no endless retry)', async () => {
    await rowsOf(1);
    proxy.fault = 'reset';
    const err = await rowsOf(2).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RetryableError);
  });
});
