import type { RunReceipt } from '@bx/core';
import type { SnowflakeSession } from './snowflake-session';
import { quoteIdentifier } from './sql-text';

/** The table of receipts beside the events table (contract: Receipts): one row per export and interval. */
export const RECEIPTS_TABLE = 'batch_export_receipts';

/**
 * `checksum` is text: a UInt64 in decimal does not fit Snowflake's
 * NUMBER(38) exactly through every client (JavaScript numbers stop at 2^53).
 */
const COLUMNS: ReadonlyArray<[string, string]> = [
  ['export_id', 'STRING'],
  ['table_name', 'STRING'],
  ['data_interval_start', 'TIMESTAMP_NTZ'],
  ['data_interval_end', 'TIMESTAMP_NTZ'],
  ['records', 'INTEGER'],
  ['checksum', 'STRING'],
  ['min_inserted_at', 'TIMESTAMP_NTZ'],
  ['max_inserted_at', 'TIMESTAMP_NTZ'],
  ['files', 'VARIANT'],
  ['version', 'INTEGER'],
  ['written_at', 'TIMESTAMP_NTZ'],
];

export function createReceiptsTableSql(): string {
  const columns = COLUMNS.map(([name, type]) => `${quoteIdentifier(name)} ${type}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(RECEIPTS_TABLE)} (${columns}) COMMENT = 'Batch export receipts'`;
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
 * replaces its events, so the rows and their receipt commit together or not
 * at all. INSERT ... SELECT because Snowflake takes PARSE_JSON there, not in
 * VALUES.
 */
export async function writeReceipt(session: SnowflakeSession, row: ReceiptRow, writtenAt: number): Promise<void> {
  const table = quoteIdentifier(RECEIPTS_TABLE);
  await session.query(`DELETE FROM ${table} WHERE "export_id" = ? AND "data_interval_start" = ?`, 'DELETE receipt', [
    row.exportId,
    utc(row.start),
  ]);
  const r = row.receipt;
  await session.query(
    `INSERT INTO ${table} (${COLUMNS.map(([name]) => quoteIdentifier(name)).join(', ')})` +
      ` SELECT ?, ?, ?, ?, ?, ?, ?, ?, PARSE_JSON(?), ?, ?`,
    'INSERT receipt',
    [
      row.exportId,
      row.table,
      utc(row.start),
      utc(row.end),
      r.records,
      r.checksum,
      r.min_inserted_at,
      r.max_inserted_at,
      JSON.stringify(r.files),
      r.version,
      utc(writtenAt),
    ],
  );
}

/**
 * `2024-01-01T10:00:00.000+00:00`, written like the records' own timestamps:
 * a TIMESTAMP_NTZ column keeps its wall clock (UTC), and an existing table
 * with TIMESTAMP_TZ or _LTZ columns compares it as the same instant whatever
 * the session's TIMEZONE.
 */
export function utc(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}
