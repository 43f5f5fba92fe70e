/**
 * out[r] = 1 when field `field` of row r (bytes index[r*slots + 2*field] up to
 * index[r*slots + 2*field + 1]) is non-empty, verbatim JSON as
 * `verbatimJsonField` (@bx/core) defines it; else 0.
 */
export function verbatimJson(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  field: number,
  out: Uint8Array,
): void;

/**
 * Writes the JSON Lines records of rows `state[0]..` of a batch (`slots` =
 * 22 index slots a row) into `out` from `state[1]`, advancing both. Answers
 * why it stopped: 0 at the end of the batch; 1 when `out` may be too small
 * for the next row (room for 256 + 6 × its field bytes is needed); 2 when
 * the next row needs `toRecordLine` (a JSON column to normalise, a
 * timestamp in another form).
 */
export function writeRecords(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  out: Uint8Array,
  state: Float64Array,
): 0 | 1 | 2;
