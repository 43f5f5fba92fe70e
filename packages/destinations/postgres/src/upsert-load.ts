import type { RecordBatch } from '@bx/batch';
import type { ReceiptRow, RunReceipt } from '@bx/core';
import { copyBatches, type CopyResult } from './copy-stream';
import { encodeModelRows } from './copy-fields';
import { STAGING_TABLE, createStagingTableSql, upsertSql, type UpsertModel } from './model-table';
import type { TableColumn } from './events-table';
import type { PostgresConnection } from './postgres-connection';
import { writeReceipt } from './receipts-table';
import { quoteIdentifier } from './sql-text';

export interface UpsertLoad {
  schema: string;
  table: string;
  model: UpsertModel;
  /** The existing table's columns: a timestamp column of fewer digits gets values cut to them. */
  columns?: readonly TableColumn[];
  /** Called as rows are sent. */
  onProgress(records: number): void;
  /** Throws when the run must stop (cancelled, shutting down). */
  checkAborted(): void;
  /** Throws when the load must not commit (a later attempt of the run has started: its receipt stays). */
  beforeCommit?(): Promise<void>;
  /** The interval's receipt row, asked for once every row is in; written in the same transaction. */
  receipt?: () => ReceiptRow;
}

/**
 * Applies a run's records to the table by key, in one transaction: COPY
 * them into a temporary staging table as they arrive (binary, streamed),
 * then one INSERT ... ON CONFLICT DO UPDATE ... WHERE that changes a stored
 * row only where the incoming versions are higher (upsertSql). A failure
 * anywhere, or a worker killed anywhere, rolls back: the table holds the
 * rows before the run or after it; the interval's receipt row (when asked
 * for) commits with them. On a failure the caller closes the session, which
 * rolls the transaction back. A `timestamp` column (without time zone) of
 * an existing table gets the UTC wall clock, as the events table's do.
 * Answers the COPY's counts, the rows inserted or updated, and the receipt
 * written.
 */
export async function upsertRows(
  conn: PostgresConnection,
  load: UpsertLoad,
  batches: AsyncIterable<RecordBatch>,
): Promise<CopyResult & { merged: number; receipt?: RunReceipt }> {
  const q = quoteIdentifier;
  const columns = load.model.columns;
  await conn.query('BEGIN', 'BEGIN');
  // The INSERT converts the staging table's timestamptz to a `timestamp` column of the table in the
  // session's zone (the login's or the server's setting): UTC, the wall clock such a column holds.
  await conn.query(`SET LOCAL TimeZone = 'UTC'`, 'SET TimeZone');
  await conn.query(createStagingTableSql(STAGING_TABLE, load.model), 'CREATE STAGING TABLE');
  const copied = await copyBatches(
    conn,
    `COPY ${q(STAGING_TABLE)} (${columns.map((c) => q(c.name)).join(', ')}) FROM STDIN (FORMAT binary)`,
    {
      encode: encodeModelRows,
      onProgress: (records) => load.onProgress(records),
      checkAborted: () => load.checkAborted(),
    },
    batches,
  );
  const upsert = await conn.query(
    upsertSql(load.schema, load.table, STAGING_TABLE, load.model, load.columns),
    'INSERT ON CONFLICT',
  );
  const receipt = load.receipt && (await writeReceipt(conn, load.schema, load.receipt(), Date.now()));
  await load.beforeCommit?.();
  await conn.query('COMMIT', 'COMMIT');
  return { ...copied, merged: upsert.rowCount, receipt };
}
