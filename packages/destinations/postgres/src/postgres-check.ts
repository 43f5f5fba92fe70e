import { EVENT_COLUMNS, RECEIPTS_TABLE, type DestinationCheckOptions } from '@bx/core';
import { createEventsTableSql, type TableColumn } from './events-table';
import { requireUtf8Database } from './database-encoding';
import { checkedEncodings, describeTable, lockTableCreation, requireSchema } from './events-table-session';
import type { PostgresConfig } from './postgres-config';
import { PostgresConnection } from './postgres-connection';
import {
  STAGING_TABLE,
  createModelTableSql,
  createStagingTableSql,
  requireModelColumns,
  upsertSql,
  type UpsertModel,
} from './model-table';
import { createReceiptsTableSql, tableExists, writeReceipt } from './receipts-table';
import { qualifiedName, quoteIdentifier } from './sql-text';

/** The destination test answers an HTTP request within 30 s: its own, shorter deadlines, in ms. */
const CHECK_SETTINGS = { connectMs: 10_000, lockMs: 5_000, statementMs: 10_000, applicationName: 'bx check' };

/**
 * The destination test (POST /api/exports/:id/test): logs in, checks the
 * database is UTF8 and the schema exists, and proves the right to write the table, in a transaction
 * that is rolled back: an existing table must hold the events and take the
 * run's DELETE and an INSERT; a missing one must be creatable (CREATE TABLE
 * and its index, for real, then rolled back). A model upserted by key
 * (persons): an existing table must have its columns and take the run's
 * upsert (which needs a unique index on the key); a missing one must be
 * creatable. Then the same for the receipts table and a receipt row. Loads
 * `pg`, not the batch
 * encoder (the API runs without the native addon).
 */
export async function checkPostgres(config: PostgresConfig, opts: DestinationCheckOptions = {}): Promise<void> {
  const { schema, table_name: table } = config;
  const conn = await PostgresConnection.open(config, { ...CHECK_SETTINGS, network: opts.network }, opts.signal);
  try {
    await requireUtf8Database(conn, config.database);
    await requireSchema(conn, schema);
    await conn.query('BEGIN', 'BEGIN');
    // A run creating the table right now: wait for it, then check the table it made.
    await lockTableCreation(conn, schema, table);
    const columns = await describeTable(conn, schema, table);
    const load = opts.model?.load;
    if (opts.model && load?.kind === 'upsert') {
      await checkUpsert(conn, { schema, table, model: { ...opts.model, load } }, columns);
    } else if (columns) {
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
    // The receipts table beside it: created if missing (rolled back here too), and written as a run writes it.
    await lockTableCreation(conn, schema, RECEIPTS_TABLE);
    // IF NOT EXISTS still needs CREATE in the schema: a run creates it only when missing, and so does this.
    if (!(await tableExists(conn, schema, RECEIPTS_TABLE))) {
      await conn.query(createReceiptsTableSql(schema), 'CREATE TABLE receipts');
    }
    await writeReceipt(
      conn,
      schema,
      {
        exportId: 'bx check',
        table,
        start: 0,
        end: 0,
        receipt: { records: 0, checksum: '0', min_inserted_at: null, max_inserted_at: null, files: [], version: 1 },
      },
      Date.now(),
    );
    await conn.query('ROLLBACK', 'ROLLBACK');
  } finally {
    await conn.close();
  }
}

/** An upsert model's table: the run's own statements, from an empty staging table, or its creation. */
async function checkUpsert(
  conn: PostgresConnection,
  target: { schema: string; table: string; model: UpsertModel },
  columns: readonly TableColumn[] | null,
): Promise<void> {
  const { schema, table, model } = target;
  if (!columns) {
    for (const sql of createModelTableSql(schema, table, model)) await conn.query(sql, 'CREATE TABLE');
    return;
  }
  requireModelColumns(columns, qualifiedName(schema, table), model);
  await conn.query(createStagingTableSql(STAGING_TABLE, model), 'CREATE STAGING TABLE');
  await conn.query(upsertSql(schema, table, STAGING_TABLE, model, columns), 'INSERT ON CONFLICT');
}
