import type { RunReceipt } from './run-model';

/**
 * The table destinations with tables keep receipts in (contract: Receipts):
 * one row per export and interval, beside the events table. The columns are
 * listed once here; each dialect (packages/destinations/<name>/src/
 * receipts-table.ts) names the types and renders its DDL and insert from it.
 */
export const RECEIPTS_TABLE = 'batch_export_receipts';

/**
 * Whether a table destination's `table_name` (quoted: names match exactly)
 * is free of the receipts table beside it, in the same schema. Taken, every
 * run failed for good on the other's columns ('column "export_id" ... does
 * not exist'), and so did the destination's test.
 */
export function notReceiptsTable(tableName: string): boolean {
  return tableName !== RECEIPTS_TABLE;
}

/** What a config schema says of a `table_name` that notReceiptsTable refuses. */
export const RECEIPTS_TABLE_TAKEN = `must not be ${RECEIPTS_TABLE}: the destination keeps its receipts in that table`;

/**
 * What a column holds, for a dialect to name: `text`, an `instant` (UTC),
 * a `count` (up to 2^63), `json`, a small `integer`.
 */
export type ReceiptColumnType = 'text' | 'instant' | 'count' | 'json' | 'integer';

export interface ReceiptColumn {
  name: string;
  type: ReceiptColumnType;
  /** Whether a row may hold NULL (only an interval without records has no `inserted_at` bounds). */
  nullable: boolean;
  /** The column's value for a row, written as a bound parameter. */
  value(row: ReceiptRow, writtenAt: number): string | number | null;
}

/** One receipt row as a run writes it. */
export interface ReceiptRow {
  exportId: string;
  /** The destination table the rows went to. */
  table: string;
  /** The interval, epoch ms. */
  start: number;
  end: number;
  receipt: RunReceipt;
}

/** In this order; a row is keyed by (export_id, data_interval_start): a re-run replaces it. */
export const RECEIPT_COLUMNS: readonly ReceiptColumn[] = [
  // The export the run belongs to.
  { name: 'export_id', type: 'text', nullable: false, value: (row) => row.exportId },
  // The destination table the interval's rows went to.
  { name: 'table_name', type: 'text', nullable: false, value: (row) => row.table },
  // The interval, [start, end).
  { name: 'data_interval_start', type: 'instant', nullable: false, value: (row) => utcTimestamp(row.start) },
  { name: 'data_interval_end', type: 'instant', nullable: false, value: (row) => utcTimestamp(row.end) },
  // Records the run wrote.
  { name: 'records', type: 'count', nullable: false, value: (row) => row.receipt.records },
  // Sum mod 2^64 of sipHash64 of each record's key, in decimal: text, as a UInt64 fits neither a
  // signed bigint nor a JavaScript number (2^53).
  { name: 'checksum', type: 'text', nullable: false, value: (row) => row.receipt.checksum },
  // Bounds of the records' inserted_at (persons: _inserted_at); NULL for an interval without records.
  { name: 'min_inserted_at', type: 'instant', nullable: true, value: (row) => row.receipt.min_inserted_at },
  { name: 'max_inserted_at', type: 'instant', nullable: true, value: (row) => row.receipt.max_inserted_at },
  // The files the rows went through (Snowflake's staged files; [] for Postgres), as a JSON array.
  { name: 'files', type: 'json', nullable: false, value: (row) => JSON.stringify(row.receipt.files) },
  // Completed writes of the interval: 1 for the first.
  { name: 'version', type: 'integer', nullable: false, value: (row) => row.receipt.version },
  // When the row was written (the transaction of the rows).
  { name: 'written_at', type: 'instant', nullable: false, value: (_row, writtenAt) => utcTimestamp(writtenAt) },
];

/** The columns that key a row. */
export const RECEIPT_KEY: readonly string[] = ['export_id', 'data_interval_start'];

/** The row's values in the order of RECEIPT_COLUMNS; `writtenAt` in epoch ms. */
export function receiptValues(row: ReceiptRow, writtenAt: number): Array<string | number | null> {
  return RECEIPT_COLUMNS.map((column) => column.value(row, writtenAt));
}

/** The interval's receipt row of a run writing `table`. */
export function receiptRowOf(
  run: { exportId: string; dataIntervalStart: number; dataIntervalEnd: number },
  table: string,
  receipt: RunReceipt,
): ReceiptRow {
  return { exportId: run.exportId, table, start: run.dataIntervalStart, end: run.dataIntervalEnd, receipt };
}

/**
 * An epoch-ms instant as `2024-01-01T10:00:00.000+00:00`, bound as a
 * parameter: a timestamptz in PostgreSQL; in Snowflake a TIMESTAMP_NTZ keeps
 * its wall clock (UTC), and a TIMESTAMP_TZ or _LTZ column of an existing
 * table compares it as the same instant whatever the session's TIMEZONE.
 */
export function utcTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}
