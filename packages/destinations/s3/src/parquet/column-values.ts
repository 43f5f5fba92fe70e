import { jsonColumn, mayHoldSurrogateEscape, withoutLoneSurrogateEscapes, type ValueType } from '@bx/core';
import { timestampMicros, type RecordBatch } from '@bx/batch';
import type { ColumnWriter } from './file-writer';

const NULL_TEXT = Buffer.from('null');

/**
 * Writes a batch of any model into its Parquet columns, column by column,
 * from the values' bytes (see RecordBatch): text copied when the column is
 * all UTF-8 (else decoded, U+FFFD, as records do), JSON copied when
 * verbatim (else normalised as records do; empty or `null` is null), 64-bit
 * integers as their bits, timestamps as UTC microseconds.
 */
export function writeColumns(columns: readonly ColumnWriter[], batch: RecordBatch): void {
  const { bytes: b, count } = batch;
  batch.format.columns.forEach((spec, c) => {
    const column = columns[c]!;
    const type: ValueType = spec.type;
    const utf8 = (type === 'string' || type === 'uuid') && batch.utf8(Uint8Array.of(c));
    const verbatim = type === 'json' ? batch.verbatimJson(c) : null;
    const escapes = type === 'json' && surrogateEscapes(batch, c);
    for (let r = 0; r < count; r++) {
      const s = batch.start(r, c);
      const e = batch.end(r, c);
      if (s === -1) {
        column.null();
        continue;
      }
      switch (type) {
        case 'string':
        case 'uuid':
          if (utf8) column.bytes(b, s, e);
          else column.text(b.toString('utf8', s, e));
          break;
        case 'json': {
          if (s === e || (e - s === 4 && b.compare(NULL_TEXT, 0, 4, s, e) === 0)) column.null();
          else if (verbatim![r] === 1 && !(escapes && mayHoldSurrogateEscape(b, s, e))) column.bytes(b, s, e);
          else {
            const normalised = parquetJson(b.toString('utf8', s, e));
            if (normalised === 'null') column.null();
            else column.text(normalised);
          }
          break;
        }
        case 'int64':
        case 'uint64':
          column.int64(b.readInt32LE(s + 4), b.readUInt32LE(s));
          break;
        case 'boolean':
          column.bool(b.readUInt32LE(s) !== 0 || b.readUInt32LE(s + 4) !== 0);
          break;
        case 'timestamp':
          column.int64Number(timestampMicros(b, s, e));
          break;
      }
    }
  });
}

/**
 * A JSON column's text as the Parquet JSON column holds it: normalised as
 * records do (jsonColumn), and each lone surrogate escape (`"\ud800"`)
 * written `\ufffd`: a strict reader (DuckDB) refuses the whole file
 * otherwise. A pair stays as written.
 */
export function parquetJson(text: string): string {
  return withoutLoneSurrogateEscapes(jsonColumn(text));
}

/** Whether field `field` of some row of the batch may hold a surrogate escape: one search over their bytes. */
export function surrogateEscapes(batch: RecordBatch, field: number): boolean {
  let lo = Infinity;
  let hi = -1;
  for (let r = 0; r < batch.count; r++) {
    const s = batch.start(r, field);
    if (s === -1) continue;
    if (s < lo) lo = s;
    const e = batch.end(r, field);
    if (e > hi) hi = e;
  }
  return hi > lo && mayHoldSurrogateEscape(batch.bytes, lo, hi);
}
