import { BatchExportError, PermanentError } from '@bx/core';
import type { RecordBatch } from '@bx/batch';

/** The most Snowflake stores in one VARIANT or VARCHAR value unless the account allows more: 16 MB. */
export const SNOWFLAKE_VALUE_BYTES = 16 * 1024 * 1024;

/** Snowflake's words when COPY meets a value past that: 100082 (since the 2024_08 bundle), 100069 before. */
const TOO_LARGE = /Max LOB size|document is too large/;

/**
 * The largest text or JSON value of a run's rows, kept as the batches go by
 * (a subtraction per value): when COPY refuses a value for its size, the run
 * says which column of which row it was, and that no retry can load it. The
 * row is named only for a value past SNOWFLAKE_VALUE_BYTES, the rare case.
 */
export class LargestValue {
  private bytes = 0;
  private column = '';
  private row = '';

  add(batch: RecordBatch): void {
    const columns = batch.format.columns;
    for (let c = 0; c < columns.length; c++) {
      const type = columns[c]!.type;
      if (type !== 'string' && type !== 'json') continue;
      for (let r = 0; r < batch.count; r++) {
        const s = batch.start(r, c);
        const n = s === -1 ? 0 : batch.end(r, c) - s;
        if (n <= this.bytes) continue;
        this.bytes = n;
        this.column = columns[c]!.name;
        this.row = n > SNOWFLAKE_VALUE_BYTES ? rowName(batch, r) : '';
      }
    }
  }

  /** `err` itself, or, when Snowflake refused a value for its size, a permanent error naming it. */
  explain(err: unknown): unknown {
    if (!(err instanceof BatchExportError) || !TOO_LARGE.test(err.message)) return err;
    const limit = '16 MB unless the account allows more';
    // No value sent was past 16 MB: Snowflake measured one as it stores it (parsed JSON can take more room).
    const which = this.row
      ? `${this.column} of ${this.row} is ${this.bytes} bytes, more than Snowflake stores in one value (${limit})`
      : `the largest value sent, in ${this.column}, is ${this.bytes} bytes; Snowflake stores ${limit} in one ` +
        `value, as it measures the value once loaded`;
    return new PermanentError(`${err.message}: ${which}; no retry can load this interval`, {
      code: 'ValueTooLarge',
      cause: err,
    });
  }
}

/** `event <uuid>`, or `distinct_id <id>` for persons: read from the row's record. */
function rowName(batch: RecordBatch, r: number): string {
  const record = JSON.parse(
    batch
      .slice(r, r + 1)
      .records()
      .toString('utf8'),
  ) as Record<string, unknown>;
  if (typeof record.uuid === 'string') return `event ${record.uuid}`;
  return `distinct_id ${JSON.stringify(record.distinct_id)}`;
}
