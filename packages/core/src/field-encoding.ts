/**
 * How a column's bytes encode its value in a batch (a batch format's
 * layout, one byte a column): its type's wire form (see BatchFormat), or
 * ClickHouse's RowBinary of a UUID (16 bytes: two little-endian UInt64, the
 * high half first), a DateTime (UInt32 seconds, UTC) or a DateTime64 (Int64
 * ticks of 10^-scale s; `dateTime64(scale)`). Plain constants, so that a
 * model's query can choose them without loading the data path.
 */
export const FieldEncoding = { TEXT: 0, UUID: 1, DATE_TIME: 2, DATE_TIME64: 3 } as const;

/** The encoding of a DateTime64(scale) field: the scale (0-9) in the high nibble. */
export function dateTime64(scale: number): number {
  if (!Number.isInteger(scale) || scale < 0 || scale > 9) throw new RangeError(`DateTime64 scale ${scale}`);
  return FieldEncoding.DATE_TIME64 | (scale << 4);
}
