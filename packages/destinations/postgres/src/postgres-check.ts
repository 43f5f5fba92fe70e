import { EVENT_COLUMNS, type DestinationCheckOptions } from '@bx/core';
import { createEventsTableSql } from './events-table';
import { checkedEncodings, describeTable, lockTableCreation, requireSchema } from './events-table-session';
import type { PostgresConfig } from './postgres-config';
import { PostgresConnection } from './postgres-connection';
import { qualifiedName, quoteIdentifier } from './sql-text';

/** The destination test answers an HTTP request within 30 s: its own, shorter deadlines, in ms. */
const CHECK_SETTINGS = { connectMs: 10_000, lockMs: 5_000, statementMs: 10_000, applicationName: 'bx check' };

/**
 * The destination test (POST /api/exports/:id/test): logs in, checks the
 * schema exists, and proves the right to write the table, in a transaction
 * that is rolled back: an existing table must hold the events and take the
 * run's DELETE and an INSERT; a missing one must be creatable (CREATE TABLE
 * and its index, for real, then rolled back). Loads `pg`, not the batch
 * encoder (the API runs without the native addon).
 */
export async function checkPostgres(config: PostgresConfig, opts: DestinationCheckOptions = {}): Promise<void> {
  const { schema, table_name: table } = config;
  const conn = await PostgresConnection.open(config, { ...CHECK_SETTINGS, network: opts.network }, opts.signal);
  try {
    await requireSchema(conn, schema);
    await conn.query('BEGIN', 'BEGIN');
    // A run creating the table right now: wait for it, then check the table it made.
    await lockTableCreation(conn, schema, table);
    const columns = await describeTable(conn, schema, table);
    if (columns) {
      checkedEncodings(columns, { schema, table, teamId: 0 });
      const name = qualifiedName(schema, table);
      // The run's own DELETE (it needs SELECT on team_id and inserted_at too), on an empty range.
      await conn.query(
        `DELETE FROM ${name} WHERE "team_id" = $1 AND "inserted_at" >= $2 AND "inserted_at" < $2`,
        'DELETE',
        [0, '2000-01-01T00:00:00+00:00'],
      );
      const list = EVENT_COLUMNS.map(quoteIdentifier).join(', ');
      const nulls = EVENT_COLUMNS.map(() => 'NULL').join(', ');
      await conn.query(`INSERT INTO ${name} (${list}) SELECT ${nulls} WHERE false`, 'INSERT');
    } else {
      for (const sql of createEventsTableSql(schema, table)) await conn.query(sql, 'CREATE TABLE');
    }
    await conn.query('ROLLBACK', 'ROLLBACK');
  } finally {
    await conn.close();
  }
}
