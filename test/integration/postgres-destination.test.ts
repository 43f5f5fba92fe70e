import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { ClickHouseSource } from '@bx/clickhouse';
import { buildEventsQuery } from '@bx/model-events';
import type { EventBatch, RunContext } from '@bx/batch';
import { PermanentError, RetryableError, type EventRow } from '@bx/core';
import { PostgresDestination, type PostgresDestinationOptions } from '@bx/destination-postgres';
import { TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { asRows, chTime, makeEvent, rowBatches, type SourceEvent } from '../helpers/events';
import { TestPostgres, byUuid, storedRow } from '../helpers/postgres';
import { MemoryRunState, runContext } from '../helpers/run-context';

const span = { start: Date.parse('2024-01-01T10:00:00Z'), end: Date.parse('2024-01-01T11:00:00Z') };

describe('Postgres destination on the real PostgreSQL server', function () {
  this.timeout(60_000);
  let pg: TestPostgres;
  let ch: TestClickHouse;
  let source: ClickHouseSource;
  let state: MemoryRunState;

  // The interval's events: its first and last second, a 100 KB properties, quoting and Unicode.
  const events: SourceEvent[] = [
    makeEvent({ inserted_at: chTime('2024-01-01T10:00:00Z') }),
    makeEvent({ inserted_at: chTime('2024-01-01T10:59:59Z') }),
    makeEvent({
      inserted_at: chTime('2024-01-01T10:30:00Z'),
      properties: JSON.stringify({ big: randomBytes(75_000).toString('base64'), n: 1 }),
    }),
    makeEvent({
      inserted_at: chTime('2024-01-01T10:20:00Z'),
      event: 'it\'s "quoted",\n\ttabbed \\ back',
      distinct_id: '日本語 🎉',
      elements_chain: 'a:nth-child="1";button.btn',
      properties: JSON.stringify({ 'key "q"': 'line\nbreak', emoji: '🎉', nested: { a: [1, 2.5, null, true] } }),
      person_properties: '',
    }),
    ...Array.from({ length: 300 }, (_, i) =>
      makeEvent({ inserted_at: chTime(new Date(span.start + 1000 + i * 11_000).toISOString()) }),
    ),
  ];
  // Rows the interval's runs must leave alone: the previous and next intervals, another team's same interval.
  const neighbours = [
    makeEvent({ inserted_at: chTime('2024-01-01T09:59:59Z') }),
    makeEvent({ inserted_at: chTime('2024-01-01T11:00:00Z') }),
    makeEvent({ inserted_at: chTime('2024-01-01T10:30:00Z'), team_id: 2 }),
  ];

  const sut = (options: Partial<PostgresDestinationOptions> = {}, config = pg.config()) =>
    new PostgresDestination(config, options);
  const ctx = (overrides: Partial<RunContext> = {}): RunContext => ({ ...runContext(span, state), ...overrides });
  const fromSource = (teamId = 1, start = span.start, end = span.end) =>
    source.batches(
      buildEventsQuery({ database: ch.database, table: ch.table, intervalColumn: 'inserted_at', teamId, start, end }),
      new AbortController().signal,
      { reuseBuffers: true },
    );
  const stored = async () => (await pg.rows()).sort(byUuid);
  const expected = (list: SourceEvent[]) => list.map(storedRow).sort(byUuid);

  before(async () => {
    pg = await new TestPostgres().setup();
    ch = await new TestClickHouse().setup();
    await ch.insert([...events, ...neighbours]);
    source = testClickHouseSource();
  });
  after(async () => {
    await source.close();
    await ch.drop();
    await pg.drop();
  });
  beforeEach(async () => {
    state = new MemoryRunState();
    await pg.admin.query(`DROP TABLE IF EXISTS "${pg.schema}"."events"`);
  });

  it('creates the table (quoted lower-case columns, JSONB, timestamptz, bigint, an index) and loads the interval', async () => {
    const result = await sut().write(fromSource(), ctx());
    expect(result.records).to.equal(events.length);
    expect(await stored()).to.deep.equal(expected(events));
    const { rows: columns } = await pg.admin.query(
      `SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = 'events' ORDER BY ordinal_position`,
      [pg.schema],
    );
    expect(columns.map((c) => `${c.column_name} ${c.data_type}`)).to.deep.equal([
      'uuid text',
      'event text',
      'properties jsonb',
      'distinct_id text',
      'team_id bigint',
      'timestamp timestamp with time zone',
      'created_at timestamp with time zone',
      'inserted_at timestamp with time zone',
      'elements_chain text',
      'person_id text',
      'person_properties jsonb',
    ]);
    const { rows: indexes } = await pg.admin.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1`, [
      pg.schema,
    ]);
    expect(indexes.map((i) => i.indexdef.replace(/^.* USING /, ''))).to.deep.equal(['btree (team_id, inserted_at)']);
  });

  /** Loads the neighbours through runs of their own intervals (and team), then the interval from the source. */
  async function loadWithNeighbours(): Promise<void> {
    const hour = 3_600_000;
    await sut().write(
      fromSource(1, span.start - hour, span.start),
      ctx({ runId: 'previous', dataIntervalStart: span.start - hour, dataIntervalEnd: span.start }),
    );
    await sut().write(
      fromSource(1, span.end, span.end + hour),
      ctx({ runId: 'next', dataIntervalStart: span.end, dataIntervalEnd: span.end + hour }),
    );
    await sut().write(fromSource(2), ctx({ runId: 'team-2', teamId: 2 }));
    expect(await stored()).to.deep.equal(expected(neighbours));
    await sut().write(fromSource(), ctx());
  }

  it('a re-run leaves each event of the interval once, and the neighbouring rows alone', async () => {
    await loadWithNeighbours();
    expect(await stored()).to.deep.equal(expected([...events, ...neighbours]));
    const again = await sut().write(fromSource(), ctx({ attempt: 2 }));
    expect(again.records).to.equal(events.length);
    expect(await stored()).to.deep.equal(expected([...events, ...neighbours]));
  });

  it("a re-run with other source rows replaces exactly the team's interval; an empty one empties it", async () => {
    await loadWithNeighbours();
    const changed = [...events.slice(0, 3), makeEvent({ inserted_at: chTime('2024-01-01T10:59:59Z') })];
    await sut().write(rowBatches(asRows(changed), 2), ctx({ attempt: 2 }));
    expect(await stored()).to.deep.equal(expected([...changed, ...neighbours]));
    await sut().write(rowBatches([], 2), ctx({ attempt: 3 }));
    expect(await stored()).to.deep.equal(expected(neighbours));
  });

  it('an attempt that fails mid-stream leaves the rows of the last complete load', async () => {
    await loadWithNeighbours();
    async function* failing(): AsyncGenerator<EventBatch> {
      yield* rowBatches(asRows(events.slice(0, 100)), 10);
      throw new Error('ClickHouse went away');
    }
    const err = await sut()
      .write(failing(), ctx({ attempt: 2 }))
      .catch((e: Error) => e);
    expect(err).to.be.instanceOf(Error).with.property('message').that.contains('ClickHouse went away');
    expect(await stored()).to.deep.equal(expected([...events, ...neighbours]));
    // The attempt drops its connection mid-COPY; the server ends the session once it notices, a
    // moment later on a loaded machine: waited for, not expected at once.
    const sessions = async () =>
      (await pg.admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'bx r1'`)).rows[0]
        .n as number;
    await waitFor(async () => (await sessions()) === 0).catch(async () => {
      expect(await sessions(), 'the session is closed').to.equal(0);
    });
  });

  it("a take-over of the same run ends the earlier attempt's session; the interval is there once", async () => {
    await loadWithNeighbours();
    const stalled = stall(asRows(events), 100);
    const first = sut()
      .write(stalled.batches, ctx({ attempt: 2 }))
      .catch((e: Error) => e);
    await stalled.reached;
    // A later attempt of the same run (the first lost its lock): not a fresh run.
    const second = await sut().write(fromSource(), ctx({ attempt: 3, state: runState(false) }));
    expect(second.records).to.equal(events.length);
    stalled.release();
    expect(await first).to.be.instanceOf(RetryableError);
    expect(await stored()).to.deep.equal(expected([...events, ...neighbours]));
  });

  it('a second load of the interval waits for the first to commit, then replaces its rows', async () => {
    await loadWithNeighbours();
    const stalled = stall(asRows(events), 100);
    const first = sut().write(stalled.batches, { ...ctx({ attempt: 2 }), runId: 'other-run' });
    await stalled.reached;
    // Fresh: it does not end the other session, it waits for it (an advisory lock of the interval).
    const second = sut().write(fromSource(), ctx({ attempt: 1, state: runState(true) }));
    await waitFor(async () => (await lockWaiters()) === 1);
    stalled.release();
    expect((await first).records).to.equal(events.length);
    expect((await second).records).to.equal(events.length);
    expect(await stored()).to.deep.equal(expected([...events, ...neighbours]));
  });

  it('runs of several intervals starting together on a new table: one creates it, every one loads', async () => {
    const hour = 3_600_000;
    const starts = Array.from({ length: 6 }, (_, i) => span.start + (i + 5) * hour);
    const perInterval = starts.map((start) => [
      makeEvent({ inserted_at: chTime(new Date(start + 1000).toISOString()) }),
    ]);
    await Promise.all(
      starts.map((start, i) =>
        sut().write(
          rowBatches(asRows(perInterval[i]!), 1),
          ctx({ runId: `r${i}`, dataIntervalStart: start, dataIntervalEnd: start + hour }),
        ),
      ),
    );
    expect(await stored()).to.deep.equal(expected(perInterval.flat()));
  });

  it('loads into an existing table of other compatible types, in its own column order', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."events" (
      note text, "person_properties" json, "properties" text, "inserted_at" timestamp, "team_id" integer,
      "uuid" varchar(36), "event" varchar, "distinct_id" text, "timestamp" timestamp, "created_at" timestamptz,
      "elements_chain" text, "person_id" text, added int NOT NULL DEFAULT 7)`);
    await sut().write(fromSource(), ctx());
    const { rows } = await pg.admin.query(
      `SELECT uuid, properties, person_properties::text AS pp, inserted_at::text AS ins, team_id, note, added
         FROM "${pg.schema}"."events" ORDER BY uuid`,
    );
    const sorted = [...events].sort(byUuid);
    expect(rows).to.deep.equal(
      sorted.map((e) => ({
        uuid: e.uuid,
        properties: e.properties,
        pp: e.person_properties === '' ? 'null' : e.person_properties,
        ins: e.inserted_at,
        team_id: 1,
        note: null,
        added: 7,
      })),
    );
  });

  it('an incompatible existing table fails permanently, naming each column, and is left as it was', async () => {
    await pg.admin.query(`CREATE TABLE "${pg.schema}"."events" (
      "UUID" text, event text, properties integer, distinct_id text, team_id bigint, "timestamp" timestamptz,
      created_at timestamptz, elements_chain text, person_id text, person_properties jsonb, note text NOT NULL)`);
    const err = await sut()
      .write(fromSource(), ctx())
      .catch((e: Error) => e);
    expect(err).to.be.instanceOf(PermanentError).with.property('code', 'IncompatibleTable');
    const message = (err as Error).message;
    expect(message).to.contain('column "uuid" is missing');
    expect(message).to.contain('column "properties" is integer');
    expect(message).to.contain('column "inserted_at" is missing');
    expect(message).to.contain('column "note" is NOT NULL without a default');
    expect(message).not.to.contain('"event"');
    const { rows } = await pg.admin.query(`SELECT count(*)::int AS n FROM "${pg.schema}"."events"`);
    expect(rows[0].n).to.equal(0);
  });

  /** Sessions waiting for an advisory lock (another load of the same interval). */
  async function lockWaiters(): Promise<number> {
    const { rows } = await pg.admin.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
    );
    return rows[0].n;
  }
});

/** A run's state as the worker gives it: `fresh` on a run's first attempt only. */
const runState = (fresh: boolean) => Object.assign(new MemoryRunState(), { fresh });

/** Batches of `rows` that stop after the first `after` rows until released. */
function stall(rows: EventRow[], after: number) {
  let release!: () => void;
  let reached!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const reachedPromise = new Promise<void>((r) => (reached = r));
  async function* batches(): AsyncGenerator<EventBatch> {
    yield* rowBatches(rows.slice(0, after), 50);
    reached();
    await released;
    yield* rowBatches(rows.slice(after), 50);
  }
  return { batches: batches(), reached: reachedPromise, release };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
