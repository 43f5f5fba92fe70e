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

export { FieldEncoding, dateTime64 } from '@bx/core';

/** A batch's field encodings (FieldEncoding), by field: every field text. */
export const TEXT_LAYOUT: Readonly<Uint8Array> = new Uint8Array(FIELDS);
