import { finished } from 'node:stream/promises';
import type { EventBatch } from '@bx/batch';
import { EVENT_COLUMNS, RetryableError, drainedOrClosed } from '@bx/core';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER, BinaryCopyEncoder } from './copy-binary';
import type { ColumnEncoding } from './events-table';
import type { PostgresConnection } from './postgres-connection';
import { qualifiedName, quoteIdentifier, utcTimestamp } from './sql-text';

export interface IntervalLoad {
  schema: string;
  table: string;
  teamId: number;
  /** The interval, epoch ms, `[start, end)`. */
  start: number;
  end: number;
  /** How each record field is written (see prepareEventsTable). */
  encodings: readonly ColumnEncoding[];
  /** Called as rows are sent. */
  onProgress(records: number): void;
  /** Throws when the run must stop (cancelled, shutting down). */
  checkAborted(): void;
}

export interface LoadResult {
  records: number;
  /** Bytes of COPY data sent. */
  bytes: number;
  /** Rows of the interval that were there before (an earlier attempt's or run's). */
  deleted: number;
  /** Rows that took the exact path (values PostgreSQL refuses, JSON to normalise). */
  exactRows: number;
}

/**
 * Makes the table hold exactly this attempt's rows for the team's interval, in
 * one transaction: wait for any other load of the same interval (an advisory
 * lock, so a take-over never deletes before the attempt it replaces has
 * committed or rolled back: its new rows would survive the DELETE's snapshot),
 * delete the rows earlier loads left (by team and `inserted_at`, the column
 * the interval is cut on), stream the batches in with one binary COPY as
 * they arrive, check the server counted every row, commit. A failure
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
  const deletion = await conn.query(
    `DELETE FROM ${table} WHERE "team_id" = $1 AND "inserted_at" >= $2 AND "inserted_at" < $3`,
    'DELETE',
    [load.teamId, utcTimestamp(load.start), utcTimestamp(load.end)],
  );
  result.deleted = deletion.rowCount;
  const columns = EVENT_COLUMNS.map(quoteIdentifier).join(', ');
  const copy = conn.copyIn(`COPY ${table} (${columns}) FROM STDIN (FORMAT binary)`, 'COPY');
  let failure: unknown = null;
  // The driver reports a lost connection as an 'error' of the stream without closing it: a write
  // waiting for 'drain' would wait for ever, so every wait races this.
  const failed = new Promise<never>((_, reject) =>
    copy.on('error', (err) => {
      failure ??= err;
      reject(conn.classify(err, 'COPY'));
    }),
  );
  failed.catch(() => undefined);
  const done = finished(copy);
  done.catch(() => undefined);
  const send = async (chunk: Buffer) => {
    result.bytes += chunk.length;
    if (!copy.write(chunk)) await Promise.race([drainedOrClosed(copy), failed]);
    if (failure || copy.destroyed) throw conn.classify(failure ?? new Error('COPY stream closed'), 'COPY');
  };
  try {
    const encoder = new BinaryCopyEncoder(load.encodings);
    await send(BINARY_COPY_HEADER);
    for await (const batch of batches) {
      load.checkAborted();
      if (batch.count === 0) continue;
      const data = encoder.encode(batch);
      result.records += batch.count;
      result.exactRows += encoder.exactRows;
      await send(data);
      load.onProgress(result.records);
    }
    load.checkAborted();
    copy.end(BINARY_COPY_TRAILER);
    await Promise.race([done, failed]);
  } catch (err) {
    // Still attached to the session (the source failed, the run was aborted): CopyFail ends the
    // COPY. Closing the session (the caller does) would as well.
    if (!failure && !copy.destroyed) copy.destroy();
    throw failure ? conn.classify(failure, 'COPY') : err;
  }
  result.bytes += BINARY_COPY_TRAILER.length;
  if (copy.rowCount !== result.records) {
    throw new RetryableError(`PostgreSQL COPY took ${copy.rowCount} rows, ${result.records} were sent`, {
      code: 'CopyIncomplete',
    });
  }
  await conn.query('COMMIT', 'COMMIT');
  return result;
}
