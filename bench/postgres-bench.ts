import { createEventsTableSql } from '@bx/destination-postgres';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchQuery } from './baselines';

/** The local PostgreSQL of scripts/local-services.sh. */
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://bx:bx@127.0.0.1:5432/bx';
/** The schema the case exports into (the product's table) and the baseline loads (its own table). */
const SCHEMA = 'bx_bench';
export const PRODUCT_TABLE = 'events';
const BASELINE_TABLE = 'events_b_pg';

function psql(args: string[], stdio: 'ignore' | 'inherit' = 'ignore'): void {
  // PGTZ: the CSV's timestamps are UTC wall clocks without an offset.
  execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', POSTGRES_URL, ...args], {
    env: { ...process.env, PGTZ: 'UTC', PGOPTIONS: '-c client_min_messages=warning' },
    stdio: ['ignore', stdio, 'inherit'],
  });
}

/** A fresh schema for the case; the destination config of an export writing its table. */
export function preparePostgres(): Record<string, unknown> {
  psql(['-c', `DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`, '-c', `CREATE SCHEMA ${SCHEMA}`]);
  const url = new URL(POSTGRES_URL);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
    schema: SCHEMA,
    table_name: PRODUCT_TABLE,
    sslmode: 'disable',
  };
}

/** Drops the product's table (before a repetition, untimed: each one creates it and loads it empty). */
export function dropProductTable(): void {
  psql(['-c', `DROP TABLE IF EXISTS ${SCHEMA}.${PRODUCT_TABLE}`]);
}

/**
 * B_pg: the product's SELECT in `FORMAT CSV` piped into `psql \copy ... WITH
 * (FORMAT csv)`, into a table identical to the one the product creates (its
 * columns and index), created empty before the clock starts. Seconds.
 */
export function bPg(chUrl: string, database: string, dir: string): number {
  const table = `${SCHEMA}.${BASELINE_TABLE}`;
  psql([
    '-c',
    `DROP TABLE IF EXISTS ${table}`,
    ...createEventsTableSql(SCHEMA, BASELINE_TABLE).flatMap((s) => ['-c', s]),
  ]);
  writeFileSync(join(dir, 'query-csv.sql'), benchQuery(database).replace(/FORMAT JSONEachRow$/, 'FORMAT CSV'));
  const began = process.hrtime.bigint();
  execFileSync(
    'bash',
    [
      '-c',
      `set -o pipefail; curl -sS --fail --data-binary @query-csv.sql '${chUrl}/' | ` +
        `psql -q -v ON_ERROR_STOP=1 "$BX_PG_URL" -c '\\copy ${table} FROM STDIN WITH (FORMAT csv)'`,
    ],
    { cwd: dir, env: { ...process.env, PGTZ: 'UTC', BX_PG_URL: POSTGRES_URL }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return Number(process.hrtime.bigint() - began) / 1e9;
}
