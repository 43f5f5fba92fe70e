/**
 * The fields of an events row in a batch, in record order. Every field is
 * UTF-8 text except `team_id`, a little-endian Int64; `inserted_at` may be
 * null.
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
