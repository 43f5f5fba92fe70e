import type { RecordColumn } from '@bx/core';

/**
 * A batch of rows as bytes: one buffer and, per row, the start and end of
 * each column's value in it (`slots` Int32 a row: start and end per
 * column; start -1 for null). The source frames its wire bytes into batches
 * without decoding them; destinations take what they need: JSON Lines
 * writers `records()`, Parquet the values' bytes.
 *
 * Values are held in the wire form of their column's type (ValueType):
 * text for `string`, `uuid`, `json` and `timestamp` (`YYYY-MM-DD
 * hh:mm:ss[.ffffff]`, UTC), eight little-endian bytes for `int64`, `uint64`
 * and `boolean` (non-zero is true); except where the format's `layout`
 * reads a UUID or a timestamp as ClickHouse's binary (see FieldEncoding).
 */
export interface RecordBatch {
  readonly bytes: Buffer;
  readonly index: Int32Array;
  readonly count: number;
  /** The columns and how batches of them are made. */
  readonly format: BatchFormat;
  /** Where row `r`'s value of column `c` starts and ends in `bytes` (-1: null). */
  start(r: number, c: number): number;
  end(r: number, c: number): number;
  /** The records of rows `from`.., one JSON object a line, each ending in `\n`, as UTF-8. */
  records(from?: number): Buffer;
  /**
   * `records(from)` written into `target` (memory the caller reuses, shared
   * with a compression thread) from its start, as many rows as surely fit:
   * answers the row after the last one written (`from` when none fits) and
   * the bytes written.
   */
  recordsInto(target: Uint8Array, from?: number): { next: number; bytes: number };
  /** Whether columns `columns` of every row are well-formed UTF-8 (nulls skipped). */
  utf8(columns: Uint8Array): boolean;
  /** Per row, 1 when the JSON column `c` is non-empty verbatim JSON (see `verbatimJsonField`), else 0. */
  verbatimJson(c: number): Uint8Array;
  /**
   * Rows `[from, to)` as a batch of their own, on this batch's memory (no
   * copy of the bytes): a writer that must cut a batch, as a file size limit does.
   */
  slice(from: number, to: number): RecordBatch;
}

/** A model's rows in the data path: their columns, and the batch (`B`) that holds them. */
export interface BatchFormat<B extends RecordBatch = RecordBatch> {
  readonly columns: readonly RecordColumn[];
  /** Int32 slots a row in a batch index: two a column. */
  readonly slots: number;
  /**
   * How each column's bytes encode its value (FieldEncoding by column):
   * absent, every column in its type's wire form above. Only the events
   * model reads binary UUIDs and timestamps (see EventBatch).
   */
  readonly layout?: Readonly<Uint8Array>;
  /** The batch over rows framed in `bytes` (`count` rows, `slots` a row in `index`). */
  batch(bytes: Buffer, index: Int32Array, count: number): B;
}
