/* The C side of @bx/native: byte loops over event batches (see ../index.d.ts). */
#ifndef BX_NATIVE_H
#define BX_NATIVE_H
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
/* Bits (one per byte) of the 16 bytes v that a JSON string must escape: < 0x20, '"' or '\\'. */
static inline int bx_escape_mask16(__m128i v) {
  __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
  __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
  __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
  return _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash)));
}
#endif

/* Whether b[start, end) is verbatim JSON, as verbatimJsonField (packages/core/src/json-bytes.ts) defines it. */
int bx_verbatim_json(const uint8_t *b, int64_t start, int64_t end);

/* Whether b[start, end) is well-formed UTF-8 (as Node's isUtf8 has it). */
int bx_utf8(const uint8_t *b, int64_t start, int64_t end);

/*
 * How a field's bytes encode its value in a batch (EventBatch.layout): text,
 * or ClickHouse's binary UUID (16 bytes), DateTime (UInt32 seconds) or
 * DateTime64 (Int64 ticks of 10^-scale s, the scale in the high nibble).
 */
enum { BX_ENC_TEXT = 0, BX_ENC_UUID = 1, BX_ENC_DATETIME = 2, BX_ENC_DATETIME64 = 3 };

/* A binary UUID's 16 bytes as the 36 characters toString() writes (lower-case hex). */
void bx_uuid_text(uint8_t *out, const uint8_t *b);

/*
 * A binary DateTime or DateTime64 (`encoding`) in b[s, e) as whole seconds
 * since the epoch (rounded down) and the fraction of `digits` digits that
 * follows; 0 when the bytes are not of that length.
 */
int bx_binary_time(const uint8_t *b, int64_t s, int64_t e, uint8_t encoding, int64_t *seconds, int64_t *fraction,
                   int *digits);

/*
 * `YYYY-MM-DD hh:mm:ss` in UTC, then `.` and the fraction when `digits` >
 * 0, as toString() writes a DateTime('UTC') or DateTime64(digits, 'UTC');
 * answers the bytes written, 0 for a year outside 0000-9999.
 */
int bx_time_text(uint8_t *out, int64_t seconds, int64_t fraction, int digits);

/* The date of the day a caller's last timestamp fell on, as text (valid once set). */
typedef struct {
  int64_t day;
  int valid;
  uint8_t text[10];
} bx_day_cache_t;

/*
 * bx_time_text, with the date copied from `cache` when the instant falls on
 * its day (and the cache set to the instant's day otherwise): the rows of
 * an interval share a day or two, and the calendar arithmetic of the date
 * was most of a timestamp's cost. NULL: no cache.
 */
int bx_time_text_cached(uint8_t *out, int64_t seconds, int64_t fraction, int digits, bx_day_cache_t *cache);

/* What bx_write_records stopped for. */
enum { BX_DONE = 0, BX_NEEDS_ROOM = 1, BX_NEEDS_EXACT = 2 };

/*
 * Writes the contract's JSON Lines records of rows *row.. of a batch into
 * out[*o..], as EventBatch.records() defines them, advancing *row and *o.
 * Stops at the end of the batch, when the next row might not fit (room for
 * 256 + 6 x its field bytes is needed), or at a row only toRecordLine can
 * write (a JSON column to normalise, a timestamp in another form, a string
 * that is not well-formed UTF-8). `layout` says how each field is encoded
 * (BX_ENC_*: UUIDs and timestamps may be binary). What it writes is
 * well-formed UTF-8.
 */
int bx_write_records(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                     const uint8_t *layout, uint8_t *out, int64_t n_out, int32_t *row, int64_t *o);

/* How bx_write_columns writes a column's value (the record column's type, packages/core/src/model-plugin.ts). */
enum {
  BX_COLUMN_STRING = 0,
  BX_COLUMN_JSON = 1,
  BX_COLUMN_TIMESTAMP = 2,
  BX_COLUMN_INT64 = 3,
  BX_COLUMN_UINT64 = 4,
  BX_COLUMN_BOOLEAN = 5
};

/*
 * bx_write_records for a batch of any model: each row a JSON object of
 * `columns` values written by their kinds (strings escaped as
 * JSON.stringify does, JSON copied when verbatim, timestamps as ISO 8601
 * with +00:00, 8-byte integers and booleans as JSON numbers and
 * booleans, nulls as null), each preceded by its key: keys[key_ends[c-1],
 * key_ends[c]) (`{"name":` for the first, `,"name":` after). Stops as
 * bx_write_records does; room for 256 + the keys + 6 x the row's value
 * bytes is needed.
 */
int bx_write_columns(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t columns,
                     const uint8_t *kinds, const uint8_t *keys, const int32_t *key_ends, uint8_t *out, int64_t n_out,
                     int32_t *row, int64_t *out_at);

/* A RowBinary field's wire type (low nibble of its kind) and the shape its text must have (high nibble). */
enum {
  BX_FIELD_STRING = 0,
  BX_FIELD_INT64 = 1,
  BX_FIELD_NULLABLE_STRING = 2,
  BX_FIELD_FIXED16 = 3,
  BX_FIELD_UINT32 = 4,
  BX_FIELD_NULLABLE_UINT32 = 5,
  BX_FIELD_NULLABLE_INT64 = 6
};
enum { BX_CHECK_UUID = 0x10, BX_CHECK_TIME = 0x20 };
/* What bx_frame_rows stopped for, and (low byte of *detail) why a row is broken. */
enum { BX_FRAMED = 0, BX_INDEX_FULL = 1, BX_BROKEN = 2 };
enum { BX_BAD_NULL_FLAG = 1, BX_BAD_LENGTH = 2, BX_NOT_UUID = 3, BX_NOT_TIME = 4 };

/*
 * Finds the complete RowBinary rows at the start of b[0, n): each row is
 * `fields` values of the given kinds, indexed as start and end offsets
 * (-1, -1 for null) into index[row * 2 * fields ...], up to `capacity` rows.
 * Sets *count, *used (the bytes of the complete rows) and *need (the bytes
 * the buffer must hold for the next row to be complete, at least *used + 1).
 * Answers BX_FRAMED, BX_INDEX_FULL (capacity rows framed, more may follow)
 * or BX_BROKEN: the row at *used is not of the expected shape; *detail says
 * why (byte 0), the field (byte 2) and a bad null flag (byte 1).
 */
int bx_frame_rows(const uint8_t *b, int64_t n, const uint8_t *kinds, int32_t fields, int32_t *index,
                  int64_t capacity, int64_t *count, int64_t *used, int64_t *need, int32_t *detail);

/* Where chunked decoding is: a chunk's data (left bytes of it), its size line, or the trailer. */
typedef struct {
  int64_t phase, left, size, digits, bad;
} bx_chunked_t;
/* Why bx_dechunk stopped short (negative: an offset is never negative). */
enum {
  BX_CHUNK_BAD_SIZE = -1,
  BX_CHUNK_SIZE_TOO_LONG = -2,
  BX_CHUNK_SIZE_NO_LF = -3,
  BX_CHUNK_TOO_LONG = -4,
  BX_CHUNK_NO_CRLF = -5,
  BX_CHUNK_TRAILER_NO_LF = -6
};

/*
 * Decodes buf[from, to), bytes of a chunked body just read, writing their
 * data from buf[at] (at <= from: where the data so far ends) and advancing
 * *st; answers where the data now ends, or a BX_CHUNK_ reason (the byte in
 * st->bad for BX_CHUNK_BAD_SIZE). Bytes after the body's end are ignored.
 */
int64_t bx_dechunk(uint8_t *buf, int64_t at, int64_t from, int64_t to, bx_chunked_t *st);

/* Where a Parquet column's open page is: see bx_parquet_column. */
typedef struct {
  uint8_t *page;
  int64_t cap;        /* bytes of page */
  int64_t base;       /* where the page's values start */
  int64_t o;          /* where they end */
  int64_t page_bytes; /* values' bytes at which the page is full */
  uint8_t *levels;    /* definition levels of the page, a byte each (optional columns) */
  int64_t levels_cap;
  int64_t values;     /* values in the page, nulls included */
  int64_t nulls;      /* nulls written (counted on) */
  int32_t row;        /* the batch's next row */
  int64_t need;       /* bytes the next value needs (BX_PQ_NEEDS_ROOM) */
} bx_parquet_page_t;
/* How a column's values are written, and why bx_parquet_column stopped. */
enum { BX_PQ_TEXT = 0, BX_PQ_JSON = 1, BX_PQ_INT64 = 2, BX_PQ_TIMESTAMP = 3 };
enum { BX_PQ_DONE = 0, BX_PQ_PAGE_FULL = 1, BX_PQ_NEEDS_ROOM = 2, BX_PQ_NEEDS_JS = 3 };

/*
 * Writes field `field` of rows pg->row.. of a batch into the open page,
 * PLAIN-encoded: TEXT (well-formed UTF-8, checked by the caller) and JSON as
 * a 4-byte length and the bytes, JSON null when empty or `null`; INT64 (8
 * bytes, little-endian) and TIMESTAMP (ClickHouse's text as UTC
 * microseconds) as 8 bytes, with min/max in stats = [min, max, any]. An
 * optional column's definition level goes to levels[values]. Stops after
 * the value that fills the page to page_bytes (BX_PQ_PAGE_FULL), before a
 * value without room in the page (pg->need bytes) or the levels
 * (BX_PQ_NEEDS_ROOM), and at a value only the TypeScript writer writes or
 * refuses (BX_PQ_NEEDS_JS: JSON to normalise, a timestamp in another form,
 * a null where the column has none), with pg->row at that row. `encoding`
 * is the field's (BX_ENC_*): a binary UUID is written as its text, a binary
 * DateTime or DateTime64 as microseconds (digits past the sixth dropped).
 */
int bx_parquet_column(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                      int32_t field, int kind, uint8_t encoding, int optional, bx_parquet_page_t *pg, int64_t *stats);

/* ClickHouse's sipHash64 of b[0, n): SipHash-2-4 with the key (0, 0). */
uint64_t bx_siphash64(const uint8_t *p, int64_t n);

/*
 * The receipt of a batch (see RunReceipt): adds to *sum (modulo 2^64) the
 * sipHash64 of field `key_field` of every row as text (a binary UUID,
 * `key_encoding` BX_ENC_UUID, as the 36 characters toString() writes), and
 * sets *min_row / *max_row to the rows whose field `time_field` holds the
 * smallest and largest text (byte order), or instant when binary
 * (`time_encoding`); -1 when every row's is null. Answers 0, leaving *sum as
 * it was, when a key field is null, a binary field is not of its width or a
 * bound lies outside b[0, n_bytes).
 */
int bx_receipt_tally(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                     int32_t key_field, uint8_t key_encoding, int32_t time_field, uint8_t time_encoding, uint64_t *sum,
                     int32_t *min_row, int32_t *max_row);

#endif
