/**
 * out[r] = 1 when field `field` of row r (bytes index[r*slots + 2*field] up to
 * index[r*slots + 2*field + 1]) is non-empty, verbatim JSON as
 * `isVerbatimJson` (@bx/core) defines it; else 0.
 */
export function verbatimJson(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  field: number,
  out: Uint8Array,
): void;
