import type { RunReceipt } from '@bx/core';
import { lockTableCreation } from './events-table-session';
import type { PostgresConnection } from './postgres-connection';
import { qualifiedName, quoteIdentifier, utcTimestamp } from './sql-text';

/** The table of receipts in the events table's schema (contract: Receipts): one row per export and interval. */
export const RECEIPTS_TABLE = 'batch_export_receipts';

/** `checksum` is text: a UInt64 in decimal does not fit bigint (signed) nor a JavaScript number. */
const COLUMNS: ReadonlyArray<[string, string]> = [
  ['export_id', 'text NOT NULL'],
  ['table_name', 'text NOT NULL'],
  ['data_interval_start', 'timestamptz NOT NULL'],
  ['data_interval_end', 'timestamptz NOT NULL'],
  ['records', 'bigint NOT NULL'],
  ['checksum', 'text NOT NULL'],
  ['min_inserted_at', 'timestamptz'],
  ['max_inserted_at', 'timestamptz'],
  ['files', 'jsonb NOT NULL'],
  ['version', 'integer NOT NULL'],
  ['written_at', 'timestamptz NOT NULL'],
];

export function createReceiptsTableSql(schema: string): string {
  const columns = COLUMNS.map(([name, type]) => `${quoteIdentifier(name)} ${type}`).join(', ');
  return (
    `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, RECEIPTS_TABLE)}` +
    ` (${columns}, PRIMARY KEY ("export_id", "data_interval_start"))`
  );
}

/** Whether the schema holds a table of that name. */
export async function tableExists(conn: PostgresConnection, schema: string, table: string): Promise<boolean> {
  const { rows } = await conn.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', 'describe table', [
    qualifiedName(schema, table),
  ]);
  return rows[0]?.oid !== null && rows[0]?.oid !== undefined;
}

/**
 * Creates the receipts table when missing, in a transaction of its own and one
 * creator at a time (the lock of events-table-session.ts): the first runs of
 * several exports into one schema start together.
 */
export async function prepareReceiptsTable(conn: PostgresConnection, schema: string): Promise<void> {
  if (await tableExists(conn, schema, RECEIPTS_TABLE)) return;
  await conn.query('BEGIN', 'BEGIN');
  try {
    await lockTableCreation(conn, schema, RECEIPTS_TABLE);
    await conn.query(createReceiptsTableSql(schema), 'CREATE TABLE receipts');
    await conn.query('COMMIT', 'COMMIT');
  } catch (err) {
    await conn.query('ROLLBACK', 'ROLLBACK').catch(() => undefined);
    // Created at the same moment by someone who does not take the lock.
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code !== '42P07' && code !== '23505') throw err;
  }
}

/** One receipt row as a run writes it. */
export interface ReceiptRow {
  exportId: string;
  table: string;
  /** The interval, epoch ms. */
  start: number;
  end: number;
  receipt: RunReceipt;
}

/**
 * Replaces the interval's receipt row: called inside the transaction that
 * loads its rows (interval-load.ts, upsert-load.ts), so the rows and their
 * receipt commit together or not at all. Answers the receipt written.
 */
export async function writeReceipt(
  conn: PostgresConnection,
  schema: string,
  row: ReceiptRow,
  writtenAt: number,
): Promise<RunReceipt> {
  const names = COLUMNS.map(([name]) => quoteIdentifier(name));
  const updates = names.slice(1).filter((n) => n !== '"data_interval_start"');
  const r = row.receipt;
  await conn.query(
    `INSERT INTO ${qualifiedName(schema, RECEIPTS_TABLE)} (${names.join(', ')})` +
      ` VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)` +
      ` ON CONFLICT ("export_id", "data_interval_start") DO UPDATE SET ` +
      updates.map((n) => `${n} = EXCLUDED.${n}`).join(', '),
    'INSERT receipt',
    [
      row.exportId,
      row.table,
      utcTimestamp(row.start),
      utcTimestamp(row.end),
      r.records,
      r.checksum,
      r.min_inserted_at,
      r.max_inserted_at,
      JSON.stringify(r.files),
      r.version,
      utcTimestamp(writtenAt),
    ],
  );
  return r;
}
