import { parseInput } from '@bx/core';
import { postgresConfigSchema, type PostgresConfig } from '@bx/destination-postgres';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { testEnv, uniqueName } from './env';
import { expectedRecord, type SourceEvent } from './events';

/** The test server's superuser, from POSTGRES_URL. */
export function adminConfig(): { host: string; port: number; user: string; password: string; database: string } {
  const url = new URL(testEnv.POSTGRES_URL);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1) || 'postgres',
  };
}

/** The export config of a table on the test server, as the superuser, TLS off. */
export function destinationConfig(schema: string, table: string): Record<string, unknown> {
  const { host, port, user, password, database } = adminConfig();
  return { host, port, user, password, database, schema, table_name: table, sslmode: 'disable' };
}

/**
 * A schema of its own on the real PostgreSQL server for one test file, and
 * the roles it creates; drop() removes both.
 */
export class TestPostgres {
  readonly schema = uniqueName('bx_test').replace(/-/g, '_');
  readonly admin = new Client({ ...adminConfig(), application_name: 'bx test admin' });
  private readonly roles: string[] = [];
  private readonly sessions: Client[] = [];

  async setup(): Promise<this> {
    this.admin.on('error', () => undefined);
    await this.admin.connect();
    await this.admin.query(`CREATE SCHEMA "${this.schema}"`);
    return this;
  }

  /** A destination config for this schema as the superuser (TLS off unless overridden). */
  config(overrides: Partial<PostgresConfig> = {}): PostgresConfig {
    return parseInput(postgresConfigSchema, { ...destinationConfig(this.schema, 'events'), ...overrides });
  }

  /** A login role with a password of its own (to look for in logs) and nothing granted; `grants` run as the superuser after. */
  async role(grants: (name: string) => string[] = () => []): Promise<{ user: string; password: string }> {
    const user = uniqueName('bx_role').replace(/-/g, '_');
    const password = `role-password-${randomBytes(8).toString('hex')}`;
    await this.admin.query(`CREATE ROLE "${user}" LOGIN PASSWORD '${password}'`);
    this.roles.push(user);
    for (const sql of grants(user)) await this.admin.query(sql);
    return { user, password };
  }

  /** Another session of the superuser (to hold locks); closed by drop(). */
  async session(): Promise<Client> {
    const client = new Client({ ...adminConfig(), application_name: 'bx test session' });
    client.on('error', () => undefined);
    await client.connect();
    this.sessions.push(client);
    return client;
  }

  /** The table's rows as comparable values: timestamps as ClickHouse's UTC text, JSON parsed, team_id as text. */
  async rows(table = 'events'): Promise<StoredRow[]> {
    const ts = (c: string) =>
      `regexp_replace(to_char("${c}" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '\\.000000$', '') AS "${c}"`;
    const { rows } = await this.admin.query<StoredRow>(
      `SELECT "uuid", "event", "properties", "distinct_id", "team_id"::text AS "team_id", ${ts('timestamp')},
              ${ts('created_at')}, ${ts('inserted_at')}, "elements_chain", "person_id", "person_properties"
         FROM "${this.schema}"."${table}" ORDER BY "uuid"`,
    );
    return rows;
  }

  async drop(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.end().catch(() => undefined)));
    await this.admin.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`);
    for (const role of this.roles) {
      await this.admin.query(`DROP OWNED BY "${role}"`).catch(() => undefined);
      await this.admin.query(`DROP ROLE IF EXISTS "${role}"`);
    }
    await this.admin.end();
  }
}

export interface StoredRow {
  uuid: string;
  event: string;
  properties: unknown;
  distinct_id: string;
  team_id: string;
  timestamp: string;
  created_at: string;
  inserted_at: string | null;
  elements_chain: string;
  person_id: string;
  person_properties: unknown;
}

/** What the table must hold for a source event that PostgreSQL takes as it is. */
export function storedRow(e: SourceEvent): StoredRow {
  const { timestamp, created_at, inserted_at } = e;
  return {
    ...(expectedRecord(e) as unknown as StoredRow),
    team_id: String(e.team_id),
    timestamp,
    created_at,
    inserted_at,
  };
}

export const byUuid = <T extends { uuid: string }>(a: T, b: T) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0);
