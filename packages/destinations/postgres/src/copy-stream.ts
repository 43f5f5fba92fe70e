import { finished } from 'node:stream/promises';
import type { RecordBatch } from '@bx/batch';
import { RetryableError, drainedOrClosed } from '@bx/core';
import { BINARY_COPY_HEADER, BINARY_COPY_TRAILER } from './copy-binary';
import type { PostgresConnection } from './postgres-connection';

/** How a load turns batches into binary COPY rows, and what it is told as they go. */
export interface CopyRows<B extends RecordBatch> {
  /** The batch's rows in binary COPY format (no header or trailer), and how many took the exact path. */
  encode(batch: B): { data: Buffer; exactRows: number };
  /** Called as rows are sent. */
  onProgress(records: number): void;
  /** Throws when the run must stop (cancelled, shutting down). */
  checkAborted(): void;
}

export interface CopyResult {
  records: number;
  /** Bytes of COPY data sent. */
  bytes: number;
  /** Rows that took the exact path (values PostgreSQL refuses, JSON to normalise). */
  exactRows: number;
}

/**
 * Runs `COPY ... FROM STDIN (FORMAT binary)` (`sql`) on the session's open
 * transaction, streaming the batches in as they arrive with back-pressure,
 * and checks the server counted every row. On a failure the caller closes
 * the session, which rolls the transaction back (a ROLLBACK sent on a broken
 * connection could wait for ever).
 */
export async function copyBatches<B extends RecordBatch>(
  conn: PostgresConnection,
  sql: string,
  rows: CopyRows<B>,
  batches: AsyncIterable<B>,
): Promise<CopyResult> {
  const result: CopyResult = { records: 0, bytes: 0, exactRows: 0 };
  const copy = conn.copyIn(sql, 'COPY');
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
    await send(BINARY_COPY_HEADER);
    for await (const batch of batches) {
      rows.checkAborted();
      if (batch.count === 0) continue;
      const { data, exactRows } = rows.encode(batch);
      result.records += batch.count;
      result.exactRows += exactRows;
      await send(data);
      rows.onProgress(result.records);
    }
    rows.checkAborted();
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
  return result;
}
