/**
 * The fields of an events row in a batch, in record order. Every field is
 * UTF-8 text except `team_id`, a little-endian Int64, and the UUIDs and
 * timestamps a batch's layout says are binary (see FieldEncoding);
 * `inserted_at` may be null.
 */
export const Field = {
  uuid: 0,
  event: 1,
  properties: 2,
  distinct_id: 3,
  team_id: 4,
  timestamp: 5,
  created_at: 6,
  inserted_at: 7,
  elements_chain: 8,
  person_id: 9,
  person_properties: 10,
} as const;
export const FIELDS = 11;
/** Int32 slots per row in a batch index: a start and an end per field (start -1: null). */
export const SLOTS = FIELDS * 2;

/**
 * How a field's bytes encode its value in a batch: text, or ClickHouse's
 * RowBinary of a UUID (16 bytes: two little-endian UInt64, the high half
 * first), a DateTime (UInt32 seconds, UTC) or a DateTime64 (Int64 ticks of
 * 10^-scale s; `dateTime64(scale)`).
 */
export const FieldEncoding = { TEXT: 0, UUID: 1, DATE_TIME: 2, DATE_TIME64: 3 } as const;

/** The encoding of a DateTime64(scale) field: the scale (0-9) in the high nibble. */
export function dateTime64(scale: number): number {
  if (!Number.isInteger(scale) || scale < 0 || scale > 9) throw new RangeError(`DateTime64 scale ${scale}`);
  return FieldEncoding.DATE_TIME64 | (scale << 4);
}

/** A batch's field encodings (FieldEncoding), by field: every field text. */
export const TEXT_LAYOUT: Readonly<Uint8Array> = new Uint8Array(FIELDS);
