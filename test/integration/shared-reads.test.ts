import { expect } from 'chai';
import { ClickHouseSource } from '@bx/clickhouse';
import { loadConfig } from '@bx/core';
import type { TestClickHouse } from '../helpers/clickhouse';
import { chTime, makeEvent, type SourceEvent } from '../helpers/events';
import type { TcpFaultProxy } from '../helpers/tcp-fault-proxy';
import { SharedReadsBed, END, eventsRun, START, type RunRows } from '../helpers/shared-runs';

const at = (minute: number, second = 0) => chTime(new Date(START + minute * 60_000 + second * 1000).toISOString());
const HOSTILE = ["it's", "'; DROP TABLE events; --", 'back\\slash', '日本語 🎉', 'new\nline'];
const uuids = (run: RunRows) => run.rows.map((r) => r.uuid).sort();
const expected = (events: SourceEvent[], team: number, filter = (_e: SourceEvent) => true) =>
  events
    .filter((e) => e.team_id === team && e.inserted_at! >= at(0) && e.inserted_at! < at(5) && filter(e))
    .map((e) => e.uuid)
    .sort();

/** A run's JSON Lines records, sorted: the rows, whatever order ClickHouse read its parts in. */
const lines = (records: Buffer) => records.toString('utf8').split('\n').sort();

describe('runs of different teams share one ClickHouse query (SharedReads, real ClickHouse 18.16)', () => {
  const bed = new SharedReadsBed();
  let ch: TestClickHouse;
  let proxy: TcpFaultProxy;
  let alone: ClickHouseSource;
  const events: SourceEvent[] = [];
  const source = (opts?: Parameters<SharedReadsBed['source']>[0]) => bed.source(opts);
  const queries = () => bed.queries();

  before(async () => {
    ({ ch, proxy } = await bed.start());
    // Three inserts (three parts): a team's rows come part by part, in the order its own query reads them.
    for (let part = 0; part < 3; part++) {
      const batch: SourceEvent[] = [];
      for (const team of [1, 2, 3, 4, -7]) {
        for (let i = 0; i < 2; i++) batch.push(makeEvent({ team_id: team, inserted_at: at(part, i) }));
        batch.push(makeEvent({ team_id: team, inserted_at: at(part, 30), event: HOSTILE[part]! }));
      }
      // Outside [START, END): before it, and at END.
      batch.push(makeEvent({ team_id: 1, inserted_at: at(-1) }), makeEvent({ team_id: 2, inserted_at: at(5) }));
      // A large team.
      for (let i = 0; i < 40; i++) batch.push(makeEvent({ team_id: 9, inserted_at: at(part + 1, i) }));
      await ch.insert(batch);
      events.push(...batch);
    }
    alone = source({ sharedReads: false });
  });
  beforeEach(() => bed.reset());
  after(() => bed.stop());

  it('reads the runs issued together with one query, each run exactly its own rows, byte for byte', async () => {
    const sut = source();
    const teams = [1, 2, 3, -7];
    const shared = await Promise.all(teams.map((team) => eventsRun(sut, ch, team)));
    const ownQueries = queries().length;
    expect(queries()).to.have.length(1);
    expect(queries()[0]).to.contain('team_id IN (-7, 1, 2, 3)');
    for (const [i, team] of teams.entries()) {
      expect(uuids(shared[i]!), `team ${team}`).to.deep.equal(expected(events, team)).and.have.length(9);
      const own = await eventsRun(alone, ch, team);
      // The same records, byte for byte, as the JSON Lines writers write them. In the same order too
      // unless ClickHouse merged the table's parts between the two reads (no ORDER BY: its order).
      expect(lines(shared[i]!.records), `team ${team}`).to.deep.equal(lines(own.records));
    }
    expect(queries()).to.have.length(ownQueries + teams.length);
  });

  it('has runs that come while a query of their shape is read wait for it, then go together', async () => {
    const sut = source();
    await eventsRun(sut, ch, 1); // column types read
    proxy.requested = '';
    proxy.fault = 'dribble';
    const first = eventsRun(sut, ch, 1);
    while (queries().length === 0) await new Promise((r) => setImmediate(r));
    const later = [eventsRun(sut, ch, 2)];
    await new Promise((r) => setImmediate(r));
    later.push(eventsRun(sut, ch, 3));
    const [a, b, c] = await Promise.all([first, ...later]);
    expect(queries().map((q) => /team_id IN \(([^)]*)\)/.exec(q)?.[1])).to.deep.equal(['1', '2, 3']);
    expect([uuids(a!), uuids(b!), uuids(c!)]).to.deep.equal([1, 2, 3].map((t) => expected(events, t)));
  });

  it('never shares between runs whose queries differ by more than the team', async () => {
    const sut = source();
    const filters = { includeEvents: [HOSTILE[0]!, HOSTILE[1]!] };
    const runs = await Promise.all([
      eventsRun(sut, ch, 1),
      eventsRun(sut, ch, 2, filters),
      eventsRun(sut, ch, 3, filters),
      eventsRun(sut, ch, 4, { excludeEvents: HOSTILE }),
      eventsRun(sut, ch, 2, { start: START - 300_000, end: START }),
      eventsRun(sut, ch, 1, { end: END + 300_000 }),
    ]);
    const inList = queries().map((q) => /team_id IN \(([^)]*)\)/.exec(q)?.[1]);
    expect(inList.sort()).to.deep.equal(['1', '1', '2', '2, 3', '4']);
    const hostile = (e: SourceEvent) => filters.includeEvents.includes(e.event);
    expect(runs.map(uuids)).to.deep.equal([
      expected(events, 1),
      expected(events, 2, hostile),
      expected(events, 3, hostile),
      expected(events, 4, (e) => !HOSTILE.includes(e.event)),
      [],
      events
        .filter((e) => e.team_id === 1 && e.inserted_at! >= at(0) && e.inserted_at! < at(10))
        .map((e) => e.uuid)
        .sort(),
    ]);
    expect(runs[1]!.rows).to.have.length(2);
  });

  it('gives up an answer over the cap: every run reads alone, streamed, each row once; the large team stays alone', async () => {
    // Team 9 has 120 rows: more than 100.
    const sut = source({ sharedReads: { maxRows: 100 } });
    const [small, large] = await Promise.all([eventsRun(sut, ch, 2), eventsRun(sut, ch, 9)]);
    expect(queries()).to.have.length(3);
    expect(queries()[0]).to.contain('team_id IN (2, 9)').and.contain('LIMIT 101');
    // Their own queries, as ever: uncapped, streamed with back-pressure.
    expect(queries().slice(1)).to.satisfy((q: string[]) => q.every((s) => s.includes('team_id = ')));
    expect(queries().slice(1)).to.satisfy((q: string[]) => q.every((s) => !s.includes('LIMIT')));
    expect(uuids(small)).to.deep.equal(expected(events, 2));
    expect(uuids(large)).to.deep.equal(expected(events, 9)).and.have.length(120);
    expect(lines(large.records)).to.deep.equal(lines((await eventsRun(alone, ch, 9)).records));
    proxy.requested = '';
    await Promise.all([eventsRun(sut, ch, 9), eventsRun(sut, ch, 3), eventsRun(sut, ch, 4)]);
    expect(
      queries()
        .map((q) => /team_id (?:IN \(([^)]*)\)|= (\d+))/.exec(q)!.slice(1).join(''))
        .sort(),
    ).to.deep.equal(['3, 4', '9']);
  });

  it('gives up an answer over the byte cap as over the row cap, a cap never above a batch', async () => {
    for (const opts of [
      { sharedReads: { maxBytes: 4096 } },
      { sharedReads: { maxBytes: 1 << 20 }, batchBytes: 8192 },
    ]) {
      bed.reset();
      const sut = source(opts);
      const [a, b] = await Promise.all([eventsRun(sut, ch, 1), eventsRun(sut, ch, 9)]);
      expect(queries(), JSON.stringify(opts)).to.have.length(3);
      expect([uuids(a), uuids(b)]).to.deep.equal([expected(events, 1), expected(events, 9)]);
    }
  });

  it('reads each run alone when CLICKHOUSE_SHARED_READS is false', async () => {
    const configured = (env: Record<string, string>) =>
      bed.track(ClickHouseSource.fromConfig(loadConfig({ CLICKHOUSE_URL: `http://127.0.0.1:${proxy.port}`, ...env })));
    for (const [env, count] of [
      [{}, 1],
      [{ CLICKHOUSE_SHARED_READS: 'false' }, 2],
    ] as const) {
      const sut = configured(env);
      bed.reset();
      await Promise.all([eventsRun(sut, ch, 1), eventsRun(sut, ch, 2)]);
      expect(queries(), JSON.stringify(env)).to.have.length(count);
    }
    expect(queries().filter((q) => q.includes('team_id IN'))).to.deep.equal([]);
  });

  it('reads a run of an unsafe team id alone, and fails it as its own query would, beside the others', async () => {
    const sut = source();
    const results = await Promise.allSettled([
      eventsRun(sut, ch, 2 ** 60),
      eventsRun(sut, ch, 1.5),
      eventsRun(sut, ch, 2),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['rejected', 'rejected', 'fulfilled']);
    expect(((results[0] as PromiseRejectedResult).reason as Error).message).to.contain('not a safe integer');
    expect(uuids((results[2] as PromiseFulfilledResult<RunRows>).value)).to.deep.equal(expected(events, 2));
    expect(queries().map((q) => /team_id (IN \([^)]*\)|=)/.exec(q)?.[1])).to.deep.equal(['IN (2)']);
  });
});
