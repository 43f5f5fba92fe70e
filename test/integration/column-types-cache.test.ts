import { expect } from 'chai';
import { ClickHouseSource, columnTypes } from '@bx/clickhouse';
import { buildEventsQuery, eventsLayout, type EventsQuery } from '@bx/model-events';
import { eventsFormat, Field, FieldEncoding, type EventBatch } from '@bx/batch';
import { RetryableError, type EventRow } from '@bx/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENTS_DDL_BY_TEAM, EVENTS_DDL_MODERN, eventBatches, TestClickHouse } from '../helpers/clickhouse';
import { chdbColumnTypes, chdbSession, type ChdbSession } from '../modern-engine/chdb';
import { testEnv } from '../helpers/env';
import { chTime, makeEvent, type SourceEvent } from '../helpers/events';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';

const START = Date.parse('2024-01-01T10:00:00Z');
const END = Date.parse('2024-01-01T11:00:00Z');

const sorted = (rows: EventRow[]) => [...rows].sort((a, b) => a.uuid.localeCompare(b.uuid));

describe('column types reused between runs, and asserted by the query (ClickHouse 18.16)', () => {
  let ch: TestClickHouse;
  let proxy: TcpFaultProxy;
  let table = '';
  let tables = 0;
  const source = (columnTypesTtlMs?: number) =>
    new ClickHouseSource({
      url: `http://127.0.0.1:${proxy.port}`,
      username: 'default',
      password: '',
      requestTimeoutMs: 30_000,
      columnTypesTtlMs,
    });
  const q = (teamId = 1): EventsQuery => ({
    database: ch.database,
    table,
    intervalColumn: 'inserted_at',
    teamId,
    start: START,
    end: END,
  });
  /** Times system.columns was asked, through the proxy. */
  const typeReads = () => proxy.requested.split('system.columns').length - 1;
  const insert = (events: object[]) =>
    ch.client.insert({ table: `${ch.database}.${table}`, values: events, format: 'JSONEachRow' });

  before(async () => {
    ch = await new TestClickHouse().setup();
    proxy = await new TcpFaultProxy(Number(new URL(testEnv.CLICKHOUSE_URL).port)).start();
  });
  beforeEach(async () => {
    table = `events_${++tables}`;
    await ch.client.command({ query: EVENTS_DDL_BY_TEAM(ch.database, table) });
    proxy.requested = '';
  });
  after(async () => {
    await proxy.stop();
    await ch.drop();
  });

  it('reads a table’s column types once per time-to-live, not before every run', async () => {
    const events = [makeEvent({ inserted_at: chTime('2024-01-01T10:05:00Z'), team_id: 1 })];
    await insert(events);
    const sut = source();
    for (let run = 0; run < 3; run++) {
      const batches = await collect(sut, q());
      expect(batches.every((b) => b.layout[Field.uuid] === FieldEncoding.UUID)).to.equal(true);
      expect(sorted(batches.flatMap((b) => b.rows()))).to.deep.equal(sorted(events.map(withTeamText)));
    }
    expect(typeReads()).to.equal(1);
    const everyRun = source(0);
    await collect(everyRun, q());
    await collect(everyRun, q());
    expect(typeReads()).to.equal(3);
  });

  it('exports a table whose column types changed between two runs with its new types, reading them again', async () => {
    const at = chTime('2024-01-01T10:05:00Z');
    const before = [makeEvent({ inserted_at: at, team_id: 2, person_id: '0189a1d4-0000-7000-8000-00000000000a' })];
    await insert(before);
    const sut = source();
    const first = await collect(sut, q(2));
    expect(first[0]!.layout[Field.uuid]).to.equal(FieldEncoding.UUID);
    expect(first[0]!.layout[Field.timestamp]).to.equal(FieldEncoding.DATE_TIME);
    // Binary columns become text: read with the old layout, the rows would be framed wrong.
    for (const column of ['uuid', 'person_id', 'timestamp']) {
      await ch.client.command({ query: `ALTER TABLE ${ch.database}.${table} MODIFY COLUMN ${column} String` });
    }
    const after = [makeEvent({ inserted_at: at, team_id: 2, timestamp: '2023-12-31 23:59:59' })];
    await insert(after);
    const second = await collect(sut, q(2));
    expect(second.every((b) => b.layout[Field.uuid] === FieldEncoding.TEXT)).to.equal(true);
    expect(second.every((b) => b.layout[Field.timestamp] === FieldEncoding.TEXT)).to.equal(true);
    expect(sorted(second.flatMap((b) => b.rows()))).to.deep.equal(sorted([...before, ...after].map(withTeamText)));
    expect(typeReads()).to.equal(2);
  });

  it('has ClickHouse refuse a query built for types that changed since, retryably, with or without rows', async () => {
    await insert([makeEvent({ inserted_at: chTime('2024-01-01T10:05:00Z'), team_id: 3 })]);
    const types = await columnTypes(endpoint(), ch.database, table, { timeoutMs: 10_000 });
    const layout = eventsLayout(types);
    const sut = source();
    // Unchanged: the guard lets the rows through.
    expect((await rowsOf(sut, buildEventsQuery(q(3), layout, types), layout)).length).to.equal(1);
    await ch.client.command({ query: `ALTER TABLE ${ch.database}.${table} MODIFY COLUMN created_at String` });
    for (const team of [3, 4]) {
      const err = await rowsOf(sut, buildEventsQuery(q(team), layout, types), layout).catch((e: unknown) => e);
      expect(err, `team ${team}`).to.be.instanceOf(RetryableError);
      expect((err as RetryableError).code).to.equal('ClickHouse395');
    }
  });

  it('refuses to build a binary query without the types it assumes', () => {
    const layout = new Uint8Array(11);
    layout[Field.uuid] = FieldEncoding.UUID;
    expect(() => buildEventsQuery(q(), layout)).to.throw(TypeError);
  });
});

describe('the column types guard on a modern engine (chdb, DateTime64(6))', () => {
  let dir: string;
  let session: ChdbSession;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bx-chdb-'));
    session = chdbSession(dir);
    session.query('CREATE DATABASE IF NOT EXISTS analytics');
    session.query(EVENTS_DDL_MODERN('analytics', 'events'));
    const at = '2024-01-01 10:30:00.123456';
    const uuid = '00000000-0000-4000-8000-00000000000a';
    session.query(
      `INSERT INTO analytics.events VALUES ('${uuid}', 'e', '{}', '${at}', 1, 'd', '', '${at}', '${uuid}', '', '${at}')`,
    );
  });
  after(() => {
    session?.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes rows when the types are the ones read, and refuses them once a type changed', () => {
    const read = () => chdbColumnTypes(session, 'analytics', 'events');
    const types = read();
    const layout = eventsLayout(types);
    expect(layout[Field.timestamp]).to.equal(FieldEncoding.DATE_TIME64 | (6 << 4));
    const sql = buildEventsQuery(
      { database: 'analytics', table: 'events', intervalColumn: 'inserted_at', teamId: 1, start: START, end: END },
      layout,
      types,
    );
    expect(String(session.query(`SELECT count() FROM (${sql})`, 'TSV')).trim()).to.equal('1');
    session.query("ALTER TABLE analytics.events MODIFY COLUMN timestamp DateTime64(3, 'UTC')");
    expect(read().get('timestamp')).to.equal("DateTime64(3, 'UTC')");
    expect(() => session.query(`SELECT count() FROM (${sql})`, 'TSV')).to.throw(/395|throwIf/);
  });
});

function endpoint() {
  return { url: testEnv.CLICKHOUSE_URL, username: 'default', password: '' };
}

function withTeamText(e: SourceEvent): EventRow {
  return { ...e, team_id: String(e.team_id) };
}

/** The batches of one run of the events model, as the worker reads them. */
async function collect(sut: ClickHouseSource, q: EventsQuery): Promise<EventBatch[]> {
  const batches: EventBatch[] = [];
  for await (const batch of eventBatches(sut, q)) batches.push(batch);
  return batches;
}

async function rowsOf(sut: ClickHouseSource, sql: string, layout: Uint8Array): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  for await (const batch of sut.batches(sql, undefined, { format: eventsFormat(layout) })) rows.push(...batch.rows());
  return rows;
}
