import type { EventBatch } from '@bx/batch';
import { EVENT_COLUMNS, type EventFilter, type ReceiptRow, type RunReceipt } from '@bx/core';
import { BinaryCopyEncoder } from './copy-binary';
import { copyBatches } from './copy-stream';
import { eventFilterConditions } from './event-filter-sql';
import type { ColumnEncoding } from './events-table';
import type { PostgresConnection } from './postgres-connection';
import { writeReceipt } from './receipts-table';
import { qualifiedName, quoteIdentifier, utcTimestamp } from './sql-text';

export interface IntervalLoad {
  schema: string;
  table: string;
  teamId: number;
  /** The timestamp column the interval is cut on (the model's load: EVENTS_INTERVAL_COLUMN). */
  column: string;
  /** The interval, epoch ms, `[start, end)`. */
  start: number;
  end: number;
  /** The export's event filters: only its own events of the interval are replaced. */
  events?: EventFilter;
  /** How each record field is written (see prepareEventsTable). */
  encodings: readonly ColumnEncoding[];
  /** Called as rows are sent. */
  onProgress(records: number): void;
  /** Throws when the run must stop (cancelled, shutting down). */
  checkAborted(): void;
  /** Throws when the load must not commit (a later attempt of the run has started). */
  beforeCommit?(): Promise<void>;
  /**
   * The interval's receipt row, asked for once every row is in; written to
   * batch_export_receipts in the same transaction (contract: Receipts).
   */
  receipt?: () => ReceiptRow;
}

export interface LoadResult {
  records: number;
  /** Bytes of COPY data sent. */
  bytes: number;
  /** Rows of the interval that were there before (an earlier attempt's or run's). */
  deleted: number;
  /** Rows that took the exact path (values PostgreSQL refuses, JSON to normalise). */
  exactRows: number;
  /** The receipt committed with the rows, when the load wrote one. */
  receipt?: RunReceipt;
}

/**
 * Makes the table hold exactly this attempt's rows for the team's interval, in
 * one transaction: wait for any other load of the same interval (an advisory
 * lock, so a take-over never deletes before the attempt it replaces has
 * committed or rolled back: its new rows would survive the DELETE's snapshot),
 * delete the rows earlier loads left (by team and `load.column`, the column
 * the interval is cut on, `inserted_at` by default, and the export's event
 * filters: another export of the team may share the table), stream the batches in with one binary COPY as
 * they arrive, check the server counted every row, replace the interval's
 * receipt row (when asked to), commit. A failure
 * anywhere, or a worker killed anywhere, rolls back: readers see the old
 * rows or the new ones, never both or neither. On a failure the caller
 * closes the session, which rolls the transaction back (a ROLLBACK sent on a
 * broken connection could wait for ever).
 */
export async function replaceIntervalRows(
  conn: PostgresConnection,
  load: IntervalLoad,
  batches: AsyncIterable<EventBatch>,
): Promise<LoadResult> {
  const table = qualifiedName(load.schema, load.table);
  const result: LoadResult = { records: 0, bytes: 0, deleted: 0, exactRows: 0 };
  await conn.query('BEGIN', 'BEGIN');
  await conn.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', 'lock interval', [
    `bx:${table}:${load.teamId}:${load.start}`,
  ]);
  const column = quoteIdentifier(load.column);
  const params: unknown[] = [load.teamId, utcTimestamp(load.start), utcTimestamp(load.end)];
  const own = eventFilterConditions(load.events, (names) => `$${params.push(names)}::text[]`);
  const deletion = await conn.query(
    `DELETE FROM ${table} WHERE ${['"team_id" = $1', `${column} >= $2`, `${column} < $3`, ...own].join(' AND ')}`,
    'DELETE',
    params,
  );
  result.deleted = deletion.rowCount;
  const columns = EVENT_COLUMNS.map(quoteIdentifier).join(', ');
  const encoder = new BinaryCopyEncoder(load.encodings);
  const copied = await copyBatches(
    conn,
    `COPY ${table} (${columns}) FROM STDIN (FORMAT binary)`,
    {
      encode: (batch) => ({ data: encoder.encode(batch), exactRows: encoder.exactRows }),
      onProgress: (records) => load.onProgress(records),
      checkAborted: () => load.checkAborted(),
    },
    batches,
  );
  Object.assign(result, copied);
  if (load.receipt) result.receipt = await writeReceipt(conn, load.schema, load.receipt(), Date.now());
  await load.beforeCommit?.();
  await conn.query('COMMIT', 'COMMIT');
  return result;
}
