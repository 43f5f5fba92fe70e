import {
  RECEIPTS_TABLE,
  RECEIPT_COLUMNS,
  RECEIPT_KEY,
  receiptValues,
  type ReceiptColumnType,
  type ReceiptRow,
  type RunReceipt,
} from '@bx/core';
import { lockTableCreation } from './events-table-session';
import type { PostgresConnection } from './postgres-connection';
import { qualifiedName, quoteIdentifier } from './sql-text';

/** The receipts table's columns (packages/core/src/receipts-table.ts) in PostgreSQL's types. */
const TYPES: Record<ReceiptColumnType, string> = {
  text: 'text',
  instant: 'timestamptz',
  count: 'bigint',
  json: 'jsonb',
  integer: 'integer',
};

/** The receipts table in the events table's schema. */
export function createReceiptsTableSql(schema: string): string {
  const columns = RECEIPT_COLUMNS.map(
    (c) => `${quoteIdentifier(c.name)} ${TYPES[c.type]}${c.nullable ? '' : ' NOT NULL'}`,
  ).join(', ');
  return (
    `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, RECEIPTS_TABLE)}` +
    ` (${columns}, PRIMARY KEY (${RECEIPT_KEY.map(quoteIdentifier).join(', ')}))`
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
  const names = RECEIPT_COLUMNS.map((c) => quoteIdentifier(c.name));
  const keys = RECEIPT_KEY.map(quoteIdentifier);
  const updates = names.filter((n) => !keys.includes(n));
  const params = RECEIPT_COLUMNS.map((c, i) => `$${i + 1}${c.type === 'json' ? '::jsonb' : ''}`);
  await conn.query(
    `INSERT INTO ${qualifiedName(schema, RECEIPTS_TABLE)} (${names.join(', ')})` +
      ` VALUES (${params.join(', ')})` +
      ` ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ` +
      updates.map((n) => `${n} = EXCLUDED.${n}`).join(', '),
    'INSERT receipt',
    receiptValues(row, writtenAt),
  );
  return row.receipt;
}
