import { expect } from 'chai';
import { RetryableError } from '@bx/core';
import { eventsModel } from '@bx/model-events';
import { EVENTS_DDL_BY_TEAM, type TestClickHouse } from '../helpers/clickhouse';
import { chTime, makeEvent, type SourceEvent } from '../helpers/events';
import type { TcpFaultProxy } from '../helpers/tcp-fault-proxy';
import { SharedReadsBed, eventsRun, START, type RunRows } from '../helpers/shared-runs';

const at = (second: number) => chTime(new Date(START + second * 1000).toISOString());
const uuids = (run: RunRows) => run.rows.map((r) => r.uuid).sort();
const inLists = (queries: string[]) => queries.map((q) => /team_id IN \(([^)]*)\)/.exec(q)?.[1]);

describe('a shared ClickHouse query that fails, and runs that leave it (real ClickHouse 18.16)', () => {
  const bed = new SharedReadsBed();
  let ch: TestClickHouse;
  let proxy: TcpFaultProxy;
  const events: SourceEvent[] = [];
  const source = (opts?: Parameters<SharedReadsBed['source']>[0]) => bed.source(opts);
  const queries = () => bed.queries();
  const expected = (team: number) =>
    events
      .filter((e) => e.team_id === team)
      .map((e) => e.uuid)
      .sort();
  const until = async (done: () => boolean) => {
    while (!done()) await new Promise((r) => setImmediate(r));
  };

  before(async () => {
    ({ ch, proxy } = await bed.start());
    for (const team of [1, 2, 3, 4])
      for (let i = 0; i < 20; i++) events.push(makeEvent({ team_id: team, inserted_at: at(i) }));
    await ch.insert(events);
  });
  beforeEach(() => bed.reset());
  after(() => bed.stop());

  it('fails every run in a shared query that breaks off as its own query would, retryably, with one query', async () => {
    const sut = source();
    const alone = source({ sharedReads: false });
    // Column types read before: the data query is the one to break.
    await Promise.all([eventsRun(sut, ch, 1), eventsRun(alone, ch, 1)]);
    proxy.requested = '';
    proxy.fault = 'cut';
    proxy.cutAfter = 600;
    const own = await eventsRun(alone, ch, 1).catch((e: unknown) => e);
    expect(own).to.be.instanceOf(RetryableError);
    proxy.requested = '';
    const shared = await Promise.allSettled([1, 2, 3].map((team) => eventsRun(sut, ch, team)));
    expect(queries()).to.have.length(1);
    for (const result of shared) {
      const err = (result as PromiseRejectedResult).reason as RetryableError;
      expect(err).to.be.instanceOf(RetryableError);
      expect(err.code).to.equal((own as RetryableError).code);
    }
  });

  it('sends every run to its own query when the shared one is refused for good, and each gets its rows', async () => {
    // A model whose shared query names a column the table lacks (code 47, permanent); its own query is sound.
    const broken = {
      ...eventsModel,
      teams: {
        column: 'team_id',
        query: (...args: Parameters<NonNullable<typeof eventsModel.teams>['query']>) => {
          const { sql } = eventsModel.teams!.query(...args);
          return { sql: sql.replace('WHERE ', 'WHERE bx_no_such_column = 1 AND ') };
        },
      },
    };
    const sut = source();
    const runs = await Promise.all([1, 2, 3].map((team) => eventsRun(sut, ch, team, {}, undefined, broken)));
    expect(runs.map(uuids)).to.deep.equal([1, 2, 3].map(expected));
    expect(inLists(queries())).to.deep.equal(['1, 2, 3', undefined, undefined, undefined]);
    expect(queries()[0]).to.contain('bx_no_such_column');
  });

  it('reads the column types again when ClickHouse refuses a shared query built for old ones, and shares again', async () => {
    const table = { database: ch.database, table: 'events_altered' };
    await ch.client.command({ query: EVENTS_DDL_BY_TEAM(ch.database, table.table) });
    const rows = [1, 2].flatMap((team) => [0, 1].map((i) => makeEvent({ team_id: team, inserted_at: at(i) })));
    await ch.client.insert({ table: `${ch.database}.${table.table}`, values: rows, format: 'JSONEachRow' });
    const sut = source();
    await eventsRun(sut, table, 1);
    await ch.client.command({ query: `ALTER TABLE ${ch.database}.${table.table} MODIFY COLUMN created_at String` });
    proxy.requested = '';
    const [a, b] = await Promise.all([eventsRun(sut, table, 1), eventsRun(sut, table, 2)]);
    expect([uuids(a!), uuids(b!)]).to.deep.equal(
      [1, 2].map((t) =>
        rows
          .filter((e) => e.team_id === t)
          .map((e) => e.uuid)
          .sort(),
      ),
    );
    expect(a!.rows[0]!.created_at).to.match(/^2024-01-01 10:00:0\d$/);
    expect(inLists(queries())).to.deep.equal(['1, 2', '1, 2']);
    // The first asserted created_at's old type; the second reads it as text.
    expect(queries()[0]).to.match(/toTypeName\(tuple\([^)]*created_at/);
    expect(queries()[1])
      .to.match(/toTypeName\(tuple\(/)
      .and.not.match(/toTypeName\(tuple\([^)]*created_at/);
    expect(proxy.requested.split('system.columns').length - 1).to.equal(1);
  });

  it('lets a run leave a shared query it is in, or waits for, without disturbing the others', async () => {
    const sut = source();
    await eventsRun(sut, ch, 1);
    proxy.requested = '';
    proxy.fault = 'dribble';
    const leaving = new AbortController();
    const inQuery = [eventsRun(sut, ch, 1, {}, leaving.signal), eventsRun(sut, ch, 2)];
    await until(() => queries().length === 1);
    const waiting = new AbortController();
    const later = [eventsRun(sut, ch, 3, {}, waiting.signal), eventsRun(sut, ch, 4)];
    leaving.abort();
    waiting.abort();
    const [left, two, gone, four] = await Promise.allSettled([...inQuery, ...later]);
    for (const r of [left, gone]) {
      expect((r as PromiseRejectedResult).reason).to.be.instanceOf(RetryableError);
      expect(((r as PromiseRejectedResult).reason as RetryableError).code).to.equal('Aborted');
    }
    expect(uuids((two as PromiseFulfilledResult<RunRows>).value)).to.deep.equal(expected(2));
    expect(uuids((four as PromiseFulfilledResult<RunRows>).value)).to.deep.equal(expected(4));
    expect(inLists(queries())).to.deep.equal(['1, 2', '4']);
  });

  it('cancels a shared query every run left, and reads on afterwards', async () => {
    const sut = source();
    await eventsRun(sut, ch, 1);
    proxy.requested = '';
    proxy.fault = 'dribble';
    const aborts = [new AbortController(), new AbortController()];
    const runs = Promise.allSettled([1, 2].map((team, i) => eventsRun(sut, ch, team, {}, aborts[i]!.signal)));
    await until(() => queries().length === 1);
    aborts.forEach((a) => a.abort());
    expect((await runs).map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    expect(inLists(queries())).to.deep.equal(['1, 2']);
    proxy.fault = 'none';
    const after = await Promise.all([eventsRun(sut, ch, 1), eventsRun(sut, ch, 2)]);
    expect(after.map(uuids)).to.deep.equal([expected(1), expected(2)]);
  });
});
