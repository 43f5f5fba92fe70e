import type { ClickHouseClient } from '@clickhouse/client';
import { uniqueName } from './env';
import { testClickHouseClient } from './clickhouse';

/** PostHog's person tables in the types ClickHouse 18.16 allows (`index_granularity`: rows per mark). */
export const PERSONS_DDL_18 = (db: string, granularity = 8192) => [
  `CREATE TABLE ${db}.person (
    id UUID, team_id Int64, properties String, is_identified Int8, is_deleted Int8, version UInt64,
    created_at DateTime('UTC'), _timestamp DateTime('UTC')
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, id) SETTINGS index_granularity = ${granularity}`,
  `CREATE TABLE ${db}.person_distinct_id2 (
    team_id Int64, distinct_id String, person_id UUID, is_deleted Int8, version Int64, _timestamp DateTime('UTC')
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, distinct_id) SETTINGS index_granularity = ${granularity}`,
];

/** The same on a modern server: created_at DateTime64(6), as PostHog has it now. */
export const PERSONS_DDL_MODERN = (db: string) => [
  `CREATE TABLE ${db}.person (
    id UUID, team_id Int64, properties String, is_identified Int8, is_deleted Int8, version UInt64,
    created_at DateTime64(6, 'UTC'), _timestamp DateTime('UTC')
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, id)`,
  `CREATE TABLE ${db}.person_distinct_id2 (
    team_id Int64, distinct_id String, person_id UUID, is_deleted Int8, version Int64, _timestamp DateTime('UTC')
  ) ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, distinct_id)`,
];

const PERSON_TABLES = ['person', 'person_distinct_id2'];

export interface PersonRow {
  id: string;
  team_id: number;
  properties: string;
  is_identified: number;
  is_deleted: number;
  version: number;
  created_at: string;
  _timestamp: string;
}

export interface MappingRow {
  team_id: number;
  distinct_id: string;
  person_id: string;
  is_deleted: number;
  version: number;
  _timestamp: string;
}

/**
 * A fresh database on the real ClickHouse server with PostHog's person
 * tables; drop() removes it. Their merges are stopped: each insert stays a
 * part, every version of a row is there (as before the server gets to merge
 * them), and `optimize()` merges them when a test wants that.
 */
export class TestPersons {
  readonly client: ClickHouseClient = testClickHouseClient();
  readonly database = uniqueName('bx_persons').replace(/-/g, '_');

  async setup(granularity?: number): Promise<this> {
    await this.client.command({ query: `CREATE DATABASE ${this.database}` });
    for (const query of PERSONS_DDL_18(this.database, granularity)) await this.client.command({ query });
    for (const table of PERSON_TABLES) {
      await this.client.command({ query: `SYSTEM STOP MERGES ${this.database}.${table}` });
    }
    return this;
  }

  /** Merges every part of both tables: a ReplacingMergeTree keeps the highest version of each key. */
  async optimize(): Promise<void> {
    for (const table of PERSON_TABLES) {
      await this.client.command({ query: `SYSTEM START MERGES ${this.database}.${table}` });
      await this.client.command({ query: `OPTIMIZE TABLE ${this.database}.${table} FINAL` });
    }
  }

  /** Each call is one insert per table: one part each, unmerged (as ReplacingMergeTree may hold them). */
  async insert(rows: { persons?: PersonRow[]; mappings?: MappingRow[] }): Promise<void> {
    const insert = async (table: string, values: object[]) => {
      for (let i = 0; i < values.length; i += 100_000) {
        await this.client.insert({
          table: `${this.database}.${table}`,
          values: values.slice(i, i + 100_000),
          format: 'JSONEachRow',
        });
      }
    };
    if (rows.persons?.length) await insert('person', rows.persons);
    if (rows.mappings?.length) await insert('person_distinct_id2', rows.mappings);
  }

  async drop(): Promise<void> {
    await this.client.command({ query: `DROP DATABASE IF EXISTS ${this.database}` });
    await this.client.close();
  }
}

/** SQL VALUES of rows, for engines without an insert client (chdb). */
export function valuesOf(rows: ReadonlyArray<PersonRow | MappingRow>): string {
  return rows
    .map(
      (r) =>
        `(${Object.values(r)
          .map((v) => (typeof v === 'number' ? String(v) : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`))
          .join(', ')})`,
    )
    .join(', ');
}
