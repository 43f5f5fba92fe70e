import type { RecordColumn } from '@bx/core';
import { ConvertedType, ParquetType, type ColumnSpec } from './file-writer';

const text = (name: string, optional: boolean, json = false, sparse = false): ColumnSpec => ({
  name,
  ...(sparse && { sparse }),
  type: ParquetType.BYTE_ARRAY,
  optional,
  converted: json ? ConvertedType.JSON : ConvertedType.UTF8,
  // LogicalType: STRING (1) or JSON (12).
  logical: (w) => w.struct(json ? 12 : 1),
  stats: false,
});

const int64 = (name: string, signed: boolean): ColumnSpec => ({
  name,
  type: ParquetType.INT64,
  optional: false,
  converted: signed ? ConvertedType.INT_64 : ConvertedType.UINT_64,
  // LogicalType INTEGER (10): 64 bits, signed or not.
  logical: (w) => w.struct(10, (i) => i.byte(1, 64).bool(2, signed)),
  // No min/max for unsigned values: ours compare signed.
  stats: signed,
});

/**
 * The Parquet columns of a record, with real types: UTF8 and JSON text,
 * INT64 integers, BOOLEAN, UTC microsecond timestamps. JSON columns are
 * optional (empty text is null), others where the column is nullable.
 */
export function parquetSchema(columns: readonly RecordColumn[]): ColumnSpec[] {
  return columns.map((c): ColumnSpec => {
    const optional = c.nullable ?? false;
    switch (c.type) {
      case 'string':
        return text(c.name, optional);
      case 'uuid':
        return text(c.name, optional, false, true);
      case 'json':
        return text(c.name, true, true);
      case 'int64':
      case 'uint64':
        return int64(c.name, c.type === 'int64');
      case 'boolean':
        return { name: c.name, type: ParquetType.BOOLEAN, optional, stats: false };
      case 'timestamp':
        return {
          name: c.name,
          type: ParquetType.INT64,
          optional,
          converted: ConvertedType.TIMESTAMP_MICROS,
          // LogicalType TIMESTAMP (8): adjusted to UTC, unit MICROS (2).
          logical: (w) => w.struct(8, (t) => t.bool(1, true).struct(2, (u) => u.struct(2))),
          stats: true,
        };
    }
  });
}
