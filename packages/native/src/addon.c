/* N-API bindings of @bx/native (see ../index.d.ts). */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "bx_native.h"

/* A typed array's data (NULL when empty), or 0 if `v` is not a typed array of type `want`. */
static int typed_data(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

/* The call's `argc` arguments into argv; throws and answers 0 when there are not exactly that many. */
static int get_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv, const char *message) {
  size_t got = argc;
  if (napi_get_cb_info(env, info, &got, argv, NULL, NULL) == napi_ok && got == argc) return 1;
  napi_throw_type_error(env, NULL, message);
  return 0;
}

/* The arguments every batch call starts with: bytes, index, count, slots (`slots` index entries a row). */
typedef struct {
  const uint8_t *bytes;
  size_t n_bytes;
  const int32_t *index;
  int32_t count, slots;
} batch_t;

/* Reads argv[0..3] into *b; 0 when they are not a batch whose index holds `count` rows. */
static int batch_args(napi_env env, napi_value *argv, batch_t *b) {
  size_t n_index;
  void *bytes, *index;
  if (!typed_data(env, argv[0], napi_uint8_array, &bytes, &b->n_bytes) ||
      !typed_data(env, argv[1], napi_int32_array, &index, &n_index) ||
      napi_get_value_int32(env, argv[2], &b->count) != napi_ok || napi_get_value_int32(env, argv[3], &b->slots) != napi_ok ||
      b->count < 0 || b->slots <= 0 || (size_t)b->count * (size_t)b->slots > n_index)
    return 0;
  b->bytes = bytes;
  b->index = index;
  return 1;
}

/*
 * verbatimJson(bytes: Uint8Array, index: Int32Array, count, slots, field, out: Uint8Array):
 * out[r] = 1 when field `field` of row r spans [index[r*slots + 2*field], index[... + 1]),
 * is not empty and is verbatim JSON; 0 otherwise.
 */
static napi_value verbatim_json(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv, "verbatimJson: 6 arguments expected")) return NULL;
  batch_t b;
  size_t n_out;
  void *out_data;
  int32_t field;
  if (!batch_args(env, argv, &b) || napi_get_value_int32(env, argv[4], &field) != napi_ok ||
      !typed_data(env, argv[5], napi_uint8_array, &out_data, &n_out) || field < 0 || 2 * field + 1 >= b.slots ||
      (size_t)b.count > n_out) {
    napi_throw_type_error(env, NULL, "verbatimJson: bad arguments");
    return NULL;
  }
  uint8_t *out = out_data;
  for (int32_t r = 0; r < b.count; r++) {
    int64_t s = b.index[(size_t)r * b.slots + 2 * field], e = b.index[(size_t)r * b.slots + 2 * field + 1];
    out[r] = s >= 0 && e > s && (size_t)e <= b.n_bytes && bx_verbatim_json(b.bytes, s, e);
  }
  return NULL;
}

/*
 * utf8Fields(bytes: Uint8Array, index: Int32Array, count, slots, fields: Uint8Array):
 * whether fields `fields` of rows 0..count are all well-formed UTF-8 (null fields count as such).
 */
static napi_value utf8_fields(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, "utf8Fields: 5 arguments expected")) return NULL;
  batch_t b;
  size_t n_fields;
  void *fields_data;
  if (!batch_args(env, argv, &b) || !typed_data(env, argv[4], napi_uint8_array, &fields_data, &n_fields)) {
    napi_throw_type_error(env, NULL, "utf8Fields: bad arguments");
    return NULL;
  }
  const uint8_t *fields = fields_data;
  for (size_t k = 0; k < n_fields; k++) {
    if (2 * fields[k] + 1 >= b.slots) {
      napi_throw_range_error(env, NULL, "utf8Fields: field out of range");
      return NULL;
    }
  }
  int ok = 1;
  for (int32_t r = 0; r < b.count && ok; r++) {
    for (size_t k = 0; k < n_fields && ok; k++) {
      int64_t s = b.index[(size_t)r * b.slots + 2 * fields[k]], e = b.index[(size_t)r * b.slots + 2 * fields[k] + 1];
      if (s >= 0) ok = e >= s && (size_t)e <= b.n_bytes && bx_utf8(b.bytes, s, e);
    }
  }
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

/*
 * copy(target: Uint8Array, at, source: Uint8Array): target[at..] = source, a plain memcpy. V8 copies
 * into or out of a SharedArrayBuffer element by element (its memory may change under it); this does not.
 */
static napi_value copy_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, "copy: 3 arguments expected")) return NULL;
  size_t n_target, n_source;
  void *target, *source;
  int64_t at;
  if (!typed_data(env, argv[0], napi_uint8_array, &target, &n_target) ||
      !typed_data(env, argv[2], napi_uint8_array, &source, &n_source) ||
      napi_get_value_int64(env, argv[1], &at) != napi_ok || at < 0 || (uint64_t)at > n_target ||
      n_source > n_target - (size_t)at) {
    napi_throw_range_error(env, NULL, "copy: source does not fit in target at that offset");
    return NULL;
  }
  if (n_source > 0) memcpy((uint8_t *)target + at, source, n_source);
  return NULL;
}

/* Where a records call writes: out, and state = [row, out offset] (a Float64Array(2)) read into row and o. */
typedef struct {
  uint8_t *out;
  size_t n_out;
  double *state;
  int32_t row;
  int64_t o;
} records_out_t;

/*
 * Reads a records call's out and state arguments; throws (`name`: bad arguments, or state out of range) and
 * answers 0 when they are not a Uint8Array and a Float64Array(2) of a row within the batch and an offset within out.
 */
static int records_out(napi_env env, napi_value out, napi_value state, const batch_t *b, const char *name,
                       records_out_t *r) {
  size_t n_state;
  void *out_data, *state_data;
  char message[64];
  if (!typed_data(env, out, napi_uint8_array, &out_data, &r->n_out) ||
      !typed_data(env, state, napi_float64_array, &state_data, &n_state) || n_state != 2) {
    snprintf(message, sizeof message, "%s: bad arguments", name);
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  r->out = out_data;
  r->state = state_data;
  if (r->state[0] < 0 || r->state[0] > b->count || r->state[1] < 0 || r->state[1] > (double)r->n_out) {
    snprintf(message, sizeof message, "%s: state out of range", name);
    napi_throw_range_error(env, NULL, message);
    return 0;
  }
  r->row = (int32_t)r->state[0];
  r->o = (int64_t)r->state[1];
  return 1;
}

/* Writes row and o back into the state; answers why the writer stopped, as a JS number. */
static napi_value records_done(napi_env env, const records_out_t *r, int why) {
  r->state[0] = r->row;
  r->state[1] = (double)r->o;
  napi_value result;
  napi_create_int32(env, why, &result);
  return result;
}

/*
 * writeRecords(bytes: Uint8Array, index: Int32Array, count, slots, out: Uint8Array, state: Float64Array,
 * layout: Uint8Array(11)): state = [row, out offset], advanced; answers why it stopped (0 done, 1 out of
 * room, 2 a row for toRecordLine).
 */
static napi_value write_records(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!get_args(env, info, 7, argv, "writeRecords: 7 arguments expected")) return NULL;
  batch_t b;
  size_t n_layout;
  void *layout;
  if (!batch_args(env, argv, &b) || b.slots != 22 || !typed_data(env, argv[6], napi_uint8_array, &layout, &n_layout) ||
      n_layout != 11) {
    napi_throw_type_error(env, NULL, "writeRecords: bad arguments");
    return NULL;
  }
  records_out_t r;
  if (!records_out(env, argv[4], argv[5], &b, "writeRecords", &r)) return NULL;
  int why = bx_write_records(b.bytes, (int64_t)b.n_bytes, b.index, b.count, b.slots, layout, r.out, (int64_t)r.n_out,
                             &r.row, &r.o);
  return records_done(env, &r, why);
}

/*
 * writeColumns(bytes, index, count, slots, kinds: Uint8Array, keys: Uint8Array, keyEnds: Int32Array,
 * out: Uint8Array, state: Float64Array): writeRecords for any model (see bx_write_columns).
 */
static napi_value write_columns(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, argv, "writeColumns: 9 arguments expected")) return NULL;
  batch_t b;
  size_t n_kinds, n_keys, n_ends;
  void *kinds, *keys, *ends_data;
  if (!batch_args(env, argv, &b) || !typed_data(env, argv[4], napi_uint8_array, &kinds, &n_kinds) ||
      !typed_data(env, argv[5], napi_uint8_array, &keys, &n_keys) ||
      !typed_data(env, argv[6], napi_int32_array, &ends_data, &n_ends) || n_kinds == 0 ||
      (size_t)b.slots != 2 * n_kinds || n_ends != n_kinds) {
    napi_throw_type_error(env, NULL, "writeColumns: bad arguments");
    return NULL;
  }
  const int32_t *ends = ends_data;
  for (size_t c = 0; c < n_ends; c++) {
    if (ends[c] < (c ? ends[c - 1] : 0) || (size_t)ends[c] > n_keys) {
      napi_throw_range_error(env, NULL, "writeColumns: key ends out of range");
      return NULL;
    }
  }
  records_out_t r;
  if (!records_out(env, argv[7], argv[8], &b, "writeColumns", &r)) return NULL;
  int why = bx_write_columns(b.bytes, (int64_t)b.n_bytes, b.index, b.count, (int32_t)n_kinds, kinds, keys, ends,
                             r.out, (int64_t)r.n_out, &r.row, &r.o);
  return records_done(env, &r, why);
}

/*
 * frameRows(bytes: Uint8Array, kinds: Uint8Array, index: Int32Array, state: Float64Array):
 * state = [count, used, need, detail]; answers 0 framed, 1 index full, 2 broken (see bx_frame_rows).
 */
static napi_value frame_rows(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv, "frameRows: 4 arguments expected")) return NULL;
  size_t n_bytes, n_kinds, n_index, n_state;
  void *bytes, *kinds, *index, *state_data;
  if (!typed_data(env, argv[0], napi_uint8_array, &bytes, &n_bytes) ||
      !typed_data(env, argv[1], napi_uint8_array, &kinds, &n_kinds) ||
      !typed_data(env, argv[2], napi_int32_array, &index, &n_index) ||
      !typed_data(env, argv[3], napi_float64_array, &state_data, &n_state) || n_state != 4 || n_kinds == 0 ||
      n_kinds > 64 || n_bytes > INT32_MAX) {
    napi_throw_type_error(env, NULL, "frameRows: bad arguments");
    return NULL;
  }
  int64_t count = 0, used = 0, need = 0;
  int32_t detail = 0;
  int why = bx_frame_rows(bytes, (int64_t)n_bytes, kinds, (int32_t)n_kinds, index, (int64_t)(n_index / (2 * n_kinds)),
                          &count, &used, &need, &detail);
  double *state = state_data;
  state[0] = (double)count;
  state[1] = (double)used;
  state[2] = (double)need;
  state[3] = detail;
  napi_value result;
  napi_create_int32(env, why, &result);
  return result;
}

/*
 * dechunk(buf: Uint8Array, at, from, to, state: BigInt64Array(5)): decodes buf[from, to) of a chunked
 * body in place (see bx_dechunk); state is the decoder's, kept by the caller between calls.
 */
static napi_value dechunk(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, "dechunk: 5 arguments expected")) return NULL;
  size_t n_buf, n_state;
  void *buf, *state;
  int64_t at, from, to;
  if (!typed_data(env, argv[0], napi_uint8_array, &buf, &n_buf) ||
      !typed_data(env, argv[4], napi_bigint64_array, &state, &n_state) || n_state != 5 ||
      napi_get_value_int64(env, argv[1], &at) != napi_ok || napi_get_value_int64(env, argv[2], &from) != napi_ok ||
      napi_get_value_int64(env, argv[3], &to) != napi_ok || at < 0 || at > from || from > to ||
      (uint64_t)to > n_buf) {
    napi_throw_range_error(env, NULL, "dechunk: bad arguments");
    return NULL;
  }
  napi_value result;
  napi_create_int64(env, bx_dechunk(buf, at, from, to, state), &result);
  return result;
}

/*
 * parquetColumn(bytes, index: Int32Array, count, slots, field, kind, encoding, optional, page: Uint8Array,
 * levels: Uint8Array, state: Float64Array(7), stats: BigInt64Array(3)): state = [row, base, o,
 * page bytes, values, nulls, need], advanced; answers why it stopped (see bx_parquet_column).
 */
static napi_value parquet_column(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  if (!get_args(env, info, 12, argv, "parquetColumn: 12 arguments expected")) return NULL;
  batch_t b;
  size_t n_page, n_levels, n_state, n_stats;
  void *page, *levels, *state_data, *stats;
  int32_t field, kind, encoding, optional;
  if (!batch_args(env, argv, &b) || napi_get_value_int32(env, argv[4], &field) != napi_ok ||
      napi_get_value_int32(env, argv[5], &kind) != napi_ok || napi_get_value_int32(env, argv[6], &encoding) != napi_ok ||
      napi_get_value_int32(env, argv[7], &optional) != napi_ok ||
      !typed_data(env, argv[8], napi_uint8_array, &page, &n_page) ||
      !typed_data(env, argv[9], napi_uint8_array, &levels, &n_levels) ||
      !typed_data(env, argv[10], napi_float64_array, &state_data, &n_state) || n_state != 7 ||
      !typed_data(env, argv[11], napi_bigint64_array, &stats, &n_stats) || n_stats != 3 || field < 0 ||
      2 * field + 1 >= b.slots || kind < BX_PQ_TEXT || kind > BX_PQ_TIMESTAMP || encoding < 0 || encoding > 0xff) {
    napi_throw_type_error(env, NULL, "parquetColumn: bad arguments");
    return NULL;
  }
  const double *state = state_data;
  bx_parquet_page_t pg = {
      .page = page,
      .cap = (int64_t)n_page,
      .base = (int64_t)state[1],
      .o = (int64_t)state[2],
      .page_bytes = (int64_t)state[3],
      .levels = levels,
      .levels_cap = (int64_t)n_levels,
      .values = (int64_t)state[4],
      .nulls = (int64_t)state[5],
      .row = (int32_t)state[0],
      .need = 0,
  };
  if (state[0] < 0 || state[0] > b.count || pg.base < 0 || pg.o < pg.base || pg.o > pg.cap || pg.values < 0 ||
      (optional && pg.values > pg.levels_cap)) {
    napi_throw_range_error(env, NULL, "parquetColumn: state out of range");
    return NULL;
  }
  int why = bx_parquet_column(b.bytes, (int64_t)b.n_bytes, b.index, b.count, b.slots, field, kind, (uint8_t)encoding,
                              optional != 0, &pg, stats);
  double *out = state_data;
  out[0] = pg.row;
  out[2] = (double)pg.o;
  out[4] = (double)pg.values;
  out[5] = (double)pg.nulls;
  out[6] = (double)pg.need;
  napi_value result;
  napi_create_int32(env, why, &result);
  return result;
}

/*
 * receiptTally(bytes: Uint8Array, index: Int32Array, count, slots, keyField, keyEncoding, timeField, timeEncoding,
 *              sum: BigUint64Array(1), rows: Int32Array(2)): sum[0] += sipHash64 of each row's key field as text
 * (modulo 2^64); rows = [row of the least time field, row of the greatest] (-1 when all null). The
 * encodings are the fields' in the batch's layout (BX_ENC_*).
 */
static napi_value receipt_tally(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  if (!get_args(env, info, 10, argv, "receiptTally: 10 arguments expected")) return NULL;
  batch_t b;
  int32_t key_field, key_encoding, time_field, time_encoding;
  size_t n_sum, n_rows;
  void *sum, *rows;
  if (!batch_args(env, argv, &b) || napi_get_value_int32(env, argv[4], &key_field) != napi_ok ||
      napi_get_value_int32(env, argv[5], &key_encoding) != napi_ok ||
      napi_get_value_int32(env, argv[6], &time_field) != napi_ok ||
      napi_get_value_int32(env, argv[7], &time_encoding) != napi_ok ||
      !typed_data(env, argv[8], napi_biguint64_array, &sum, &n_sum) ||
      !typed_data(env, argv[9], napi_int32_array, &rows, &n_rows) || n_sum != 1 || n_rows != 2 || key_field < 0 ||
      time_field < 0 || 2 * key_field + 1 >= b.slots || 2 * time_field + 1 >= b.slots ||
      (key_encoding != BX_ENC_TEXT && key_encoding != BX_ENC_UUID) || time_encoding < 0 || time_encoding > 0xff ||
      (time_encoding & 0x0f) == BX_ENC_UUID || (time_encoding & 0x0f) > BX_ENC_DATETIME64) {
    napi_throw_type_error(env, NULL, "receiptTally: bad arguments");
    return NULL;
  }
  int32_t *r = rows;
  if (!bx_receipt_tally(b.bytes, (int64_t)b.n_bytes, b.index, b.count, b.slots, key_field, (uint8_t)key_encoding,
                        time_field, (uint8_t)time_encoding, sum, &r[0], &r[1])) {
    napi_throw_range_error(env, NULL, "receiptTally: a key field is null or out of the batch's bytes");
    return NULL;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "frameRows", NAPI_AUTO_LENGTH, frame_rows, NULL, &fn);
  napi_set_named_property(env, exports, "frameRows", fn);
  napi_create_function(env, "copy", NAPI_AUTO_LENGTH, copy_bytes, NULL, &fn);
  napi_set_named_property(env, exports, "copy", fn);
  napi_create_function(env, "utf8Fields", NAPI_AUTO_LENGTH, utf8_fields, NULL, &fn);
  napi_set_named_property(env, exports, "utf8Fields", fn);
  napi_create_function(env, "verbatimJson", NAPI_AUTO_LENGTH, verbatim_json, NULL, &fn);
  napi_set_named_property(env, exports, "verbatimJson", fn);
  napi_create_function(env, "writeRecords", NAPI_AUTO_LENGTH, write_records, NULL, &fn);
  napi_set_named_property(env, exports, "writeRecords", fn);
  napi_create_function(env, "writeColumns", NAPI_AUTO_LENGTH, write_columns, NULL, &fn);
  napi_set_named_property(env, exports, "writeColumns", fn);
  napi_create_function(env, "dechunk", NAPI_AUTO_LENGTH, dechunk, NULL, &fn);
  napi_set_named_property(env, exports, "dechunk", fn);
  napi_create_function(env, "parquetColumn", NAPI_AUTO_LENGTH, parquet_column, NULL, &fn);
  napi_set_named_property(env, exports, "parquetColumn", fn);
  napi_create_function(env, "receiptTally", NAPI_AUTO_LENGTH, receipt_tally, NULL, &fn);
  napi_set_named_property(env, exports, "receiptTally", fn);
  return exports;
}
