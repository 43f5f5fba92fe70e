import {
  RECEIPTS_TABLE,
  RECEIPT_COLUMNS,
  receiptValues,
  utcTimestamp,
  type ReceiptColumnType,
  type ReceiptRow,
} from '@bx/core';
import type { SnowflakeSession } from './snowflake-session';
import { quoteIdentifier } from './sql-text';

/**
 * The receipts table's columns (packages/core/src/receipts-table.ts) in
 * Snowflake's types, beside the events table. No NOT NULL: Snowflake does
 * not enforce constraints beyond it, and tables made by earlier versions
 * have none.
 */
const TYPES: Record<ReceiptColumnType, string> = {
  text: 'STRING',
  instant: 'TIMESTAMP_NTZ',
  count: 'INTEGER',
  json: 'VARIANT',
  integer: 'INTEGER',
};

export function createReceiptsTableSql(): string {
  const columns = RECEIPT_COLUMNS.map((c) => `${quoteIdentifier(c.name)} ${TYPES[c.type]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(RECEIPTS_TABLE)} (${columns}) COMMENT = 'Batch export receipts'`;
}

/**
 * Replaces the interval's receipt row: called inside the transaction that
 * replaces its events, so the rows and their receipt commit together or not
 * at all. INSERT ... SELECT because Snowflake takes PARSE_JSON there, not in
 * VALUES.
 */
export async function writeReceipt(session: SnowflakeSession, row: ReceiptRow, writtenAt: number): Promise<void> {
  const table = quoteIdentifier(RECEIPTS_TABLE);
  await session.query(`DELETE FROM ${table} WHERE "export_id" = ? AND "data_interval_start" = ?`, 'DELETE receipt', [
    row.exportId,
    utcTimestamp(row.start),
  ]);
  const params = RECEIPT_COLUMNS.map((c) => (c.type === 'json' ? 'PARSE_JSON(?)' : '?'));
  await session.query(
    `INSERT INTO ${table} (${RECEIPT_COLUMNS.map((c) => quoteIdentifier(c.name)).join(', ')})` +
      ` SELECT ${params.join(', ')}`,
    'INSERT receipt',
    receiptValues(row, writtenAt),
  );
}
