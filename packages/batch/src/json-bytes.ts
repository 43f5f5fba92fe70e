import * as native from '@bx/native';
import { SLOTS } from './event-fields';

/**
 * Which rows of a batch hold verbatim JSON in `field`: JSON text that can be
 * copied into a record without decoding, parsing and re-serialising it.
 * `out[r]` is 1 only when `jsonColumn` would emit row `r`'s text unchanged:
 * non-empty, well-formed UTF-8 holding one valid JSON value with no line
 * break (`\n`, `\r`, U+2028, U+2029), no raw control character and nesting
 * at most 64 deep. Anything else is 0 and the caller takes the exact (slow)
 * path. A false 1 would put invalid JSON in a record, so the property tests
 * compare it with `JSON.parse` on hostile inputs.
 *
 * The check runs in C (packages/native/src/json_scan.c), one call per field
 * of a batch: about 1.5–1.9 GB/s on the benchmark's properties, against
 * 0.3 GB/s for the same scan in TypeScript.
 */
export function verbatimJsonField(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  field: number,
  out: Uint8Array = new Uint8Array(count),
): Uint8Array {
  native.verbatimJson(bytes, index, count, SLOTS, field, out);
  return out;
}
