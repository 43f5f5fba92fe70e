import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { ClickHouseSource, type ClickHouseSourceOptions } from '@bx/clickhouse';
import { buildEventsQuery, eventsModel, type EventsQuery } from '@bx/model-events';
import type { BatchFormat, EventBatch } from '@bx/batch';
import type { ModelPlugin } from '@bx/core';
import { testEnv, uniqueName } from './env';

/** The events table as PostHog has it, in the types ClickHouse 18.16 allows. */
export const EVENTS_DDL_18 = (db: string, table: string) => `
CREATE TABLE ${db}.${table} (
  uuid UUID, event String, properties String, timestamp DateTime('UTC'), team_id Int64,
  distinct_id String, elements_chain String, created_at DateTime('UTC'), person_id UUID,
  person_properties String, inserted_at Nullable(DateTime('UTC'))
) ENGINE = MergeTree() ORDER BY (team_id, uuid)`;

/** The events table ordered by team only, so that ALTER may change any other column's type. */
export const EVENTS_DDL_BY_TEAM = (db: string, table: string) => `
CREATE TABLE ${db}.${table} (
  uuid UUID, event String, properties String, timestamp DateTime('UTC'), team_id Int64,
  distinct_id String, elements_chain String, created_at DateTime('UTC'), person_id UUID,
  person_properties String, inserted_at Nullable(DateTime('UTC'))
) ENGINE = MergeTree() ORDER BY team_id`;

/** The same table with the types of a modern server (chdb in tests): microseconds. */
export const EVENTS_DDL_MODERN = (db: string, table: string) => `
CREATE TABLE ${db}.${table} (
  uuid UUID, event String, properties String, timestamp DateTime64(6, 'UTC'), team_id Int64,
  distinct_id String, elements_chain String, created_at DateTime64(6, 'UTC'), person_id UUID,
  person_properties String, inserted_at Nullable(DateTime64(6, 'UTC'))
) ENGINE = MergeTree ORDER BY (team_id, uuid)`;

/**
 * A client for a test's set-up, without keep-alive: ClickHouse 18.16 closes a
 * connection idle for 3 s, and on a loaded machine a kept socket could be
 * closed by the server just as a large insert starts writing to it (EPIPE,
 * seen once under a load of 15 with a 40 MiB row).
 */
export function testClickHouseClient(): ClickHouseClient {
  return createClient({ url: testEnv.CLICKHOUSE_URL, keep_alive: { enabled: false } });
}

/** The product's ClickHouse source on the test server (user `default`, no password, 60 s per query unless given). */
export function testClickHouseSource(opts: Partial<ClickHouseSourceOptions> = {}): ClickHouseSource {
  return new ClickHouseSource({
    url: testEnv.CLICKHOUSE_URL,
    username: 'default',
    password: '',
    requestTimeoutMs: 60_000,
    ...opts,
  });
}

/** A fresh database on the real ClickHouse server, with an events table; drop() removes it. */
export class TestClickHouse {
  readonly client: ClickHouseClient;
  readonly database = uniqueName('bx_test').replace(/-/g, '_');
  readonly table = 'events';

  constructor() {
    this.client = testClickHouseClient();
  }

  async setup(): Promise<this> {
    await this.client.command({ query: `CREATE DATABASE ${this.database}` });
    await this.client.command({ query: EVENTS_DDL_18(this.database, this.table) });
    return this;
  }

  async insert(rows: object[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 50_000) {
      await this.client.insert({
        table: `${this.database}.${this.table}`,
        values: rows.slice(i, i + 50_000),
        format: 'JSONEachRow',
      });
    }
  }

  /** The events query of a run of team `teamId` over [start, end) of this table, bounded by `inserted_at`. */
  eventsQuery(teamId: number, start: number, end: number): string {
    return buildEventsQuery({
      database: this.database,
      table: this.table,
      intervalColumn: 'inserted_at',
      teamId,
      start,
      end,
    });
  }

  async drop(): Promise<void> {
    await this.client.command({ query: `DROP DATABASE IF EXISTS ${this.database}` });
    await this.client.close();
  }
}

/** The events of `q` as the worker reads them: the events model, UUIDs and timestamps binary where stored so. */
export function eventBatches(sut: ClickHouseSource, q: EventsQuery): AsyncGenerator<EventBatch> {
  const config = {
    CLICKHOUSE_DATABASE: q.database,
    EVENTS_TABLE: q.table,
    EVENTS_INTERVAL_COLUMN: q.intervalColumn,
    PERSONS_TABLE: 'person',
    PERSON_DISTINCT_IDS_TABLE: 'person_distinct_id2',
  };
  const { teamId, start, end, includeEvents, excludeEvents } = q;
  return sut.modelBatches(eventsModel as ModelPlugin<BatchFormat<EventBatch>>, {
    config,
    teamId,
    start,
    end,
    includeEvents,
    excludeEvents,
  });
}

/** A finished query's entry in system.query_log: bytes read and its ProfileEvents by name. */
export async function queryLogEntry(
  client: ClickHouseClient,
  queryId: string,
): Promise<{ readBytes: number; events: Map<string, number> }> {
  // The log entry may land after the response on a busy server: flush and look again until it is there.
  for (let tries = 1; ; tries++) {
    await client.command({ query: 'SYSTEM FLUSH LOGS' });
    const rs = await client.query({
      query:
        'SELECT read_bytes, ProfileEvents.Names AS names, ProfileEvents.Values AS values' +
        ` FROM system.query_log WHERE query_id = '${queryId}' AND type = 2`,
      format: 'JSONEachRow',
    });
    const [row] = (await rs.json()) as Array<{ read_bytes: string; names: string[]; values: string[] }>;
    if (row) {
      const events = new Map(row.names.map((name, i) => [name, Number(row.values[i])]));
      return { readBytes: Number(row.read_bytes), events };
    }
    if (tries === 50) throw new Error(`query ${queryId} is not in system.query_log`);
  }
}
