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
 * timestamp in another form). `layout` (11 bytes) says how each field is
 * encoded: 0 text, 1 a binary UUID, 2 a binary DateTime, 3 | scale << 4 a
 * binary DateTime64 (EventBatch.layout).
 */
export function writeRecords(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  out: Uint8Array,
  state: Float64Array,
  layout: Uint8Array,
): 0 | 1 | 2;

/**
 * `writeRecords` for a batch of any model (`slots` = 2 × columns): each row
 * a JSON object whose values are written by `kinds` (0 string, 1 JSON, 2
 * timestamp, 3 int64, 4 uint64, 5 boolean), each after its key:
 * `keys[keyEnds[c - 1], keyEnds[c])`, i.e. `{"name":` then `,"name":`.
 * Answers as `writeRecords`: 1 when `out` may be too small for the next row
 * (room for 256 + the keys + 6 × its value bytes is needed), 2 when the
 * next row needs the exact path (text that is not UTF-8, JSON to normalise,
 * a timestamp in another form).
 */
export function writeColumns(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  kinds: Uint8Array,
  keys: Uint8Array,
  keyEnds: Int32Array,
  out: Uint8Array,
  state: Float64Array,
): 0 | 1 | 2;

/**
 * Frames the complete RowBinary rows at the start of `bytes`: `kinds` gives
 * each field's wire type (low nibble: 0 String, 1 Int64, 2 Nullable(String))
 * and the shape its text must have (0x10 a UUID, 0x20 a timestamp); start
 * and end offsets go to `index` (2 slots a field, -1 for null), as many rows
 * as it holds. Sets `state` = [rows, bytes they take, bytes needed for the
 * next row, detail] and answers 0 (framed), 1 (`index` full: more rows may
 * follow) or 2 (the row at state[1] is broken; state[3]: reason in byte 0,
 * 1 bad null flag, 2 length out of range, 3 not a UUID, 4 not a timestamp;
 * the flag in byte 1, the field in byte 2).
 */
export function frameRows(bytes: Uint8Array, kinds: Uint8Array, index: Int32Array, state: Float64Array): 0 | 1 | 2;

/** Whether fields `fields` of rows 0..count (bounds in `index`, `slots` a row; null ones skipped) are all well-formed UTF-8. */
export function utf8Fields(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  fields: Uint8Array,
): boolean;

/**
 * target[at, at + source.length) = source, with memcpy. Copies into or out of
 * a SharedArrayBuffer this way: V8's own copy goes element by element there.
 * Throws a RangeError when source does not fit.
 */
export function copy(target: Uint8Array, at: number, source: Uint8Array): void;

/**
 * Decodes `buf[from, to)`, bytes of an HTTP/1.1 chunked body just read, in
 * place: their data goes to `buf[at, ...)` (`at` ≤ `from`). `state` is the
 * decoder's ([phase, bytes left in the chunk, size so far, size digits, bad
 * byte]; phase 9 once the last chunk and trailer are read), zero at the
 * start and kept between calls. Answers where the data now ends, or a
 * negative reason: -1 a byte where a chunk size belongs (in state[4]), -2 a
 * size too long, -3 a size line without LF, -4 chunk data longer than its
 * size, -5 chunk data without CRLF, -6 a trailer without LF.
 */
export function dechunk(buf: Uint8Array, at: number, from: number, to: number, state: BigInt64Array): number;

/**
 * Writes field `field` of rows `state[0]..` of a batch into a Parquet page,
 * PLAIN-encoded, as the S3 destination's ColumnWriter would value by value:
 * `kind` 0 UTF-8 text (checked by the caller), 1 JSON text (null when empty
 * or `null`; verbatim JSON copied), 2 Int64, 3 ClickHouse timestamp text as
 * UTC microseconds; `encoding` is the field's in the batch's layout (a
 * binary UUID written as its text, a binary DateTime or DateTime64 as
 * microseconds); `optional` columns get a definition level a byte each in
 * `levels`. `state` = [row, page's values start, their end, bytes at which
 * the page is full, values in the page, nulls, bytes needed], advanced;
 * `stats` = [min, max, any] of Int64 and timestamp values. Answers why it
 * stopped: 0 every row written; 1 the page is full (after the value that
 * filled it); 2 no room in `page` (for state[6] bytes) or `levels`; 3 the
 * row at state[0] is for the TypeScript writer (JSON to normalise, a
 * timestamp in another form, a null the column cannot hold).
 */
export function parquetColumn(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  field: number,
  kind: 0 | 1 | 2 | 3,
  encoding: number,
  optional: 0 | 1,
  page: Uint8Array,
  levels: Uint8Array,
  state: Float64Array,
  stats: BigInt64Array,
): 0 | 1 | 2 | 3;

/**
 * The receipt of a batch: adds to `sum[0]` (modulo 2^64) ClickHouse's
 * `sipHash64` (SipHash-2-4, key 0) of field `keyField` of every row as text
 * (`keyEncoding` 1: a binary UUID, hashed as its 36-character text), and
 * sets `rows` = [the row whose field `timeField` is least, the row where it
 * is greatest] (-1 when every one is null): in byte order for text, by
 * instant for a binary DateTime or DateTime64 (`timeEncoding`, as in
 * writeRecords's layout). Throws a RangeError, leaving `sum` as it was, when
 * a key field is null.
 */
export function receiptTally(
  bytes: Uint8Array,
  index: Int32Array,
  count: number,
  slots: number,
  keyField: number,
  keyEncoding: number,
  timeField: number,
  timeEncoding: number,
  sum: BigUint64Array,
  rows: Int32Array,
): void;
