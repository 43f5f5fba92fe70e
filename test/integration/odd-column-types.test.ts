import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRowBinary, type ClickHouseSource } from '@bx/clickhouse';
import { buildEventsQuery, eventsLayout } from '@bx/model-events';
import { eventsFormat, ReceiptTally } from '@bx/batch';
import { IntervalChecksums } from '@bx/clickhouse/checksums';
import type { BatchExport } from '@bx/core';
import { eventBatches, TestClickHouse, testClickHouseSource } from '../helpers/clickhouse';
import { testEnv } from '../helpers/env';
import { makeEvent } from '../helpers/events';
import { chdbColumnTypes, chdbSession, type ChdbSession } from '../modern-engine/chdb';

const START = Date.parse('2024-01-01T10:00:00Z');
const END = Date.parse('2024-01-01T11:00:00Z');
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** A row with every other column NULL (or its type's default). */
const SPARSE_UUID = '00000000-0000-4000-8000-000000000001';

/** The record of the row with only uuid, team_id, event, inserted_at (and created_at) given: the rest NULL or default. */
function sparseRecord(times: { created_at: string; inserted_at: string }) {
  return {
    uuid: SPARSE_UUID,
    event: 'b',
    properties: null,
    distinct_id: '',
    team_id: 1,
    timestamp: '1970-01-01T00:00:00+00:00',
    ...times,
    elements_chain: '',
    person_id: ZERO_UUID,
    person_properties: null,
  };
}

/** The records of a row inserted with every column, and of one with only uuid, team_id, event and inserted_at. */
function expected(e: ReturnType<typeof makeEvent>) {
  return [
    {
      uuid: e.uuid,
      event: 'a',
      properties: JSON.parse(e.properties),
      distinct_id: 'abcdefgh',
      team_id: 1,
      timestamp: '2024-01-01T10:08:00+00:00',
      created_at: '2024-01-01T10:08:00+00:00',
      inserted_at: '2024-01-01T10:08:00+00:00',
      elements_chain: '',
      person_id: e.person_id,
      person_properties: JSON.parse(e.person_properties),
    },
    sparseRecord({ created_at: '1970-01-01T00:00:00+00:00', inserted_at: '2024-01-01T10:09:00+00:00' }),
  ];
}

/**
 * Columns of types other than the contract's that ClickHouse frames
 * differently in RowBinary (Nullable, Enum, FixedString, UInt64, a DateTime
 * in another zone): each was read as the contract's type and the run failed
 * on every attempt with 'ClickHouse stream broken'. They are read as text
 * (toString), NULL as the contract type's default.
 */
describe('events tables whose columns have other types than the contract (18.16)', function () {
  this.timeout(60_000);
  let ch: TestClickHouse;
  let sut: ClickHouseSource;
  before(async () => {
    ch = await new TestClickHouse().setup();
    sut = testClickHouseSource();
  });
  after(async () => {
    await sut.close();
    await ch.drop();
  });

  const tables: Record<string, string> = {
    'Nullable strings and UUIDs': `uuid UUID, event Nullable(String), properties Nullable(String),
      timestamp DateTime('UTC'), team_id Int64, distinct_id Nullable(String), elements_chain Nullable(String),
      created_at DateTime('UTC'), person_id Nullable(UUID), person_properties Nullable(String),
      inserted_at Nullable(DateTime('UTC'))`,
    'Enum8, FixedString, UInt64 and a DateTime inserted_at': `uuid UUID, event Enum8('a' = 1, 'b' = 2),
      properties String, timestamp DateTime('UTC'), team_id UInt64, distinct_id FixedString(8), elements_chain String,
      created_at DateTime('UTC'), person_id UUID, person_properties String, inserted_at DateTime('UTC')`,
    'Nullable timestamps, one in Asia/Tokyo, a Nullable Int32 team_id': `uuid UUID, event String,
      properties String, timestamp Nullable(DateTime('Asia/Tokyo')), team_id Nullable(Int32), distinct_id String,
      elements_chain String, created_at Nullable(DateTime('UTC')), person_id UUID, person_properties String,
      inserted_at Nullable(DateTime('UTC'))`,
  };
  let n = 0;
  for (const [name, columns] of Object.entries(tables)) {
    it(`${name}: every row, each value as text`, async () => {
      const table = `odd_${n++}`;
      await ch.client.command({
        query: `CREATE TABLE ${ch.database}.${table} (${columns}) ENGINE = MergeTree() ORDER BY tuple()`,
      });
      const tokyo = name.includes('Tokyo');
      const e = makeEvent({
        inserted_at: '2024-01-01 10:08:00',
        timestamp: tokyo ? '2024-01-01 19:08:00' : '2024-01-01 10:08:00',
        created_at: '2024-01-01 10:08:00',
        team_id: 1,
        event: 'a',
        distinct_id: 'abcdefgh',
      });
      await ch.client.insert({ table: `${ch.database}.${table}`, values: [e], format: 'JSONEachRow' });
      await ch.client.command({
        query: `INSERT INTO ${ch.database}.${table} (uuid, team_id, event, inserted_at) VALUES ('${SPARSE_UUID}', 1, 'b', '2024-01-01 10:09:00')`,
      });
      const q = { database: ch.database, table, intervalColumn: 'inserted_at', teamId: 1, start: START, end: END };
      const lines: string[] = [];
      for await (const batch of eventBatches(sut, q)) lines.push(...batch.records().toString().trim().split('\n'));
      const records = lines.map((l) => JSON.parse(l)).sort((a, b) => (a.event < b.event ? -1 : 1));
      expect(records).to.deep.equal(expected(e));
    });
  }

  it('filters an Enum8 event column by names it does not hold', async () => {
    // ClickHouse refused `event IN ('zzz')` on an Enum8 (Unknown element, code 49): every attempt failed.
    const table = 'odd_enum_filter';
    await ch.client.command({
      query: `CREATE TABLE ${ch.database}.${table} (${tables['Enum8, FixedString, UInt64 and a DateTime inserted_at']})
        ENGINE = MergeTree() ORDER BY tuple()`,
    });
    const rows = ['a', 'b'].map((event) => makeEvent({ inserted_at: '2024-01-01 10:08:00', team_id: 1, event }));
    await ch.client.insert({ table: `${ch.database}.${table}`, values: rows, format: 'JSONEachRow' });
    const q = { database: ch.database, table, intervalColumn: 'inserted_at', teamId: 1, start: START, end: END };
    const events = async (filters: { includeEvents?: string[]; excludeEvents?: string[] }) => {
      const names: string[] = [];
      for await (const batch of eventBatches(sut, { ...q, ...filters }))
        names.push(...batch.rows().map((r) => r.event));
      return names.sort();
    };
    expect(await events({ includeEvents: ['a', 'zzz'] })).to.deep.equal(['a']);
    expect(await events({ excludeEvents: ['zzz', "it's"] })).to.deep.equal(['a', 'b']);
    expect(await events({ includeEvents: ['zzz'] })).to.deep.equal([]);
  });

  it("the source checksums (reconciler, verify) agree with the runs' receipts: NULL uuids and events, an Enum", async () => {
    // The receipt hashed a NULL uuid as the zero UUID its record carries, while the source's
    // sum(sipHash64(toString(uuid))) skipped it, and NULL events (exported as '') were not
    // matched by exclude_events; an Enum8 event refused names it does not hold (code 49).
    const table = 'odd_checksums';
    await ch.client.command({
      query: `CREATE TABLE ${ch.database}.${table} (uuid Nullable(UUID), event Nullable(String),
        properties String, timestamp DateTime('UTC'), team_id Int64, distinct_id String, elements_chain String,
        created_at DateTime('UTC'), person_id UUID, person_properties String, inserted_at DateTime('UTC'))
        ENGINE = MergeTree() ORDER BY tuple()`,
    });
    const enumTable = 'odd_checksums_enum';
    await ch.client.command({
      query: `CREATE TABLE ${ch.database}.${enumTable} (${tables['Enum8, FixedString, UInt64 and a DateTime inserted_at']})
        ENGINE = MergeTree() ORDER BY tuple()`,
    });
    const rows = ['a', 'b'].map((event) => makeEvent({ inserted_at: '2024-01-01 10:08:00', team_id: 1, event }));
    for (const t of [table, enumTable]) {
      await ch.client.insert({ table: `${ch.database}.${t}`, values: rows, format: 'JSONEachRow' });
    }
    await ch.client.command({
      query: `INSERT INTO ${ch.database}.${table} (uuid, team_id, event, inserted_at) VALUES
        (NULL, 1, 'a', '2024-01-01 10:09:00'), (NULL, 1, NULL, '2024-01-01 10:10:00'),
        ('${SPARSE_UUID}', 1, NULL, '2024-01-01 10:11:00')`,
    });
    const checksums = IntervalChecksums.fromConfig({
      CLICKHOUSE_URL: testEnv.CLICKHOUSE_URL,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_QUERY_TIMEOUT_MS: 30_000,
      CLICKHOUSE_IDLE_TIMEOUT_MS: 30_000,
    });
    try {
      for (const t of [table, enumTable]) {
        for (const filters of [{}, { excludeEvents: ['zzz', 'b'] }, { includeEvents: ['a', 'zzz'] }]) {
          const q = {
            database: ch.database,
            table: t,
            intervalColumn: 'inserted_at',
            teamId: 1,
            start: START,
            end: END,
          };
          const tally = new ReceiptTally();
          for await (const batch of eventBatches(sut, { ...q, ...filters })) tally.add(batch);
          const { records, checksum } = tally.receipt([], 1);
          const exp = {
            team_id: 1,
            model: 'events',
            include_events: filters.includeEvents ?? [],
            exclude_events: filters.excludeEvents ?? [],
          } as unknown as BatchExport;
          const source = await checksums.ofExport(exp, [{ start: START, end: END }], {
            CLICKHOUSE_DATABASE: ch.database,
            EVENTS_TABLE: t,
            EVENTS_INTERVAL_COLUMN: 'inserted_at',
          });
          expect(source.get(START), `${t} ${JSON.stringify(filters)}`).to.deep.equal({ records, checksum });
        }
      }
    } finally {
      await checksums.close();
    }
  });
});

describe('events tables with LowCardinality and Nullable DateTime64 columns (modern engine, chdb)', () => {
  let dir: string;
  let session: ChdbSession;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bx-chdb-'));
    session = chdbSession(dir);
    session.query('CREATE DATABASE IF NOT EXISTS analytics');
    session.query(`CREATE TABLE analytics.events (
      uuid UUID, event LowCardinality(String), properties Nullable(String),
      timestamp Nullable(DateTime64(3, 'Asia/Tokyo')), team_id UInt64, distinct_id LowCardinality(Nullable(String)),
      elements_chain String, created_at DateTime64(6, 'UTC'), person_id Nullable(UUID),
      person_properties String, inserted_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY team_id`);
  });
  after(() => {
    session?.cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads every row, NULLs as the defaults, the Tokyo timestamp in UTC with its milliseconds', async () => {
    session.query(`INSERT INTO analytics.events VALUES
      ('${SPARSE_UUID}', 'b', NULL, NULL, 1, NULL, '', '2024-01-01 10:08:00.5', NULL, '', '2024-01-01 10:59:59.999999'),
      ('00000000-0000-4000-8000-000000000002', 'a', '{"x":1}', '2024-01-01 19:08:00.123', 1, 'd', '', '2024-01-01 10:08:00', '00000000-0000-4000-8000-00000000000f', '{}', '2024-01-01 10:00:00')`);
    const types = chdbColumnTypes(session, 'analytics', 'events');
    const layout = eventsLayout(types);
    const sql = buildEventsQuery(
      { database: 'analytics', table: 'events', intervalColumn: 'inserted_at', teamId: 1, start: START, end: END },
      layout,
      types,
    );
    const out = await session.queryAsync(`${sql}\nFORMAT RowBinary`, { format: 'RowBinary' });
    const batch = decodeRowBinary(Buffer.from(out.bytes()), eventsFormat(layout));
    const records = batch
      .records()
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .sort((a, b) => (a.event < b.event ? -1 : 1));
    expect(records).to.deep.equal([
      {
        uuid: '00000000-0000-4000-8000-000000000002',
        event: 'a',
        properties: { x: 1 },
        distinct_id: 'd',
        team_id: 1,
        timestamp: '2024-01-01T10:08:00.123+00:00',
        created_at: '2024-01-01T10:08:00.000000+00:00',
        inserted_at: '2024-01-01T10:00:00.000000+00:00',
        elements_chain: '',
        person_id: '00000000-0000-4000-8000-00000000000f',
        person_properties: {},
      },
      sparseRecord({
        created_at: '2024-01-01T10:08:00.500000+00:00',
        inserted_at: '2024-01-01T10:59:59.999999+00:00',
      }),
    ]);
  });
});
