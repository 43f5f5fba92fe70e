/*
 * EventBatch.records() in C: the contract's JSON Lines record of each row,
 * written from the field bytes (packages/core/src/record-writer.ts is the
 * same in TypeScript). Strings are escaped as JSON.stringify escapes them
 * (bytes >= 0x80 are copied, a field that is not well-formed UTF-8 leaves
 * its row to toRecordLine), JSON
 * columns copied when bx_verbatim_json accepts them, ClickHouse timestamps
 * rewritten as ISO 8601 with +00:00. A row it cannot write is left to
 * toRecordLine. The tests hold its output to toRecordLine's on hostile rows.
 */
#include "bx_native.h"
#include <string.h>

/* Field order of a batch row (packages/core/src/event-fields.ts). */
enum { UUID, EVENT, PROPERTIES, DISTINCT_ID, TEAM_ID, TIMESTAMP, CREATED_AT, INSERTED_AT, ELEMENTS_CHAIN, PERSON_ID,
       PERSON_PROPERTIES, FIELDS };

#define ROW_OVERHEAD 256

/* After '\\': what JSON.stringify writes for bytes below 0x20 (u: \\u00XX), '"' and '\\'; 0 for bytes it copies. */
static const uint8_t ESCAPE[256] = {
  117, 117, 117, 117, 117, 117, 117, 117, 98, 116, 110, 117, 102, 114, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117, 117,
  0, 0, 34, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 92, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
static const char HEX[] = "0123456789abcdef";

#define PUT(lit)                               \
  do {                                         \
    memcpy(out + o, lit, sizeof(lit) - 1);     \
    o += sizeof(lit) - 1;                      \
  } while (0)

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether any of the 8 bytes of x must be escaped: < 0x20, '"' or '\\' (a false yes only after a true one). */
static uint64_t any_escape(uint64_t x) {
  uint64_t below_space = (x - ONES * 0x20) & ~x;
  uint64_t quote = x ^ (ONES * 0x22), backslash = x ^ (ONES * 0x5c);
  return (below_space | ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash)) & HIGHS;
}

/*
 * A string field as a JSON string; -1 when its bytes are not well-formed
 * UTF-8 (the row is left to toRecordLine, which writes U+FFFD for them).
 */
static int64_t put_string(uint8_t *out, int64_t o, const uint8_t *b, int32_t s, int32_t e) {
  out[o++] = '"';
  int high = 0; /* whether a byte >= 0x80 may be among them */
  int32_t i = s;
  while (i < e) {
    /* Bytes copied as they are: most of a field, 16 or 8 at a time. */
#if defined(__SSE2__)
    while (i + 16 <= e) {
      /* All 16 are stored (the row's room allows it); only those before an escape count. */
      __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
      _mm_storeu_si128((__m128i *)(out + o), v);
      high |= _mm_movemask_epi8(v);
      int escape = bx_escape_mask16(v);
      int n = escape ? __builtin_ctz((unsigned)escape) : 16;
      o += n;
      i += n;
      if (escape) break;
    }
#endif
    while (i + 8 <= e) {
      uint64_t x;
      memcpy(&x, b + i, 8);
      if (any_escape(x)) break;
      memcpy(out + o, &x, 8);
      high |= (x & HIGHS) != 0;
      o += 8;
      i += 8;
    }
    if (i >= e) break;
    uint8_t c = b[i++];
    uint8_t x = ESCAPE[c];
    high |= c >= 0x80;
    if (!x) {
      out[o++] = c;
      continue;
    }
    out[o++] = '\\';
    out[o++] = x;
    if (x == 'u') {
      out[o++] = '0';
      out[o++] = '0';
      out[o++] = HEX[c >> 4];
      out[o++] = HEX[c & 15];
    }
  }
  if (high && !bx_utf8(b, s, e)) return -1;
  out[o++] = '"';
  return o;
}

/* A binary UUID (16 bytes) as its text, quoted; -1 for another length. */
static int64_t put_uuid(uint8_t *out, int64_t o, const uint8_t *b, int32_t s, int32_t e) {
  if (e - s != 16) return -1;
  out[o++] = '"';
  bx_uuid_text(out + o, b + s);
  out[o + 36] = '"';
  return o + 37;
}

/* A binary DateTime or DateTime64 as "YYYY-MM-DDThh:mm:ss[.f…]+00:00"; -1 when it is not one. */
static int64_t put_binary_time(uint8_t *out, int64_t o, const uint8_t *b, int32_t s, int32_t e, uint8_t encoding,
                               bx_day_cache_t *day) {
  int64_t seconds, fraction;
  int digits, n;
  if (!bx_binary_time(b, s, e, encoding, &seconds, &fraction, &digits)) return -1;
  out[o++] = '"';
  if (!(n = bx_time_text_cached(out + o, seconds, fraction, digits, day))) return -1;
  out[o + 10] = 'T';
  o += n;
  memcpy(out + o, "+00:00\"", 7);
  return o + 7;
}

/* `YYYY-MM-DD hh:mm:ss[.ffffff]` as "YYYY-MM-DDThh:mm:ss[.ffffff]+00:00"; -1 for another form. */
static int64_t put_timestamp(uint8_t *out, int64_t o, const uint8_t *b, int32_t s, int32_t e) {
  if (e - s < 19 || b[s + 10] != ' ') return -1;
  out[o++] = '"';
  memcpy(out + o, b + s, (size_t)(e - s));
  out[o + 10] = 'T';
  o += e - s;
  memcpy(out + o, "+00:00\"", 7);
  return o + 7;
}

/* u's decimal digits. */
static int64_t put_digits(uint8_t *out, int64_t o, uint64_t u) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  while (n) out[o++] = (uint8_t)digits[--n];
  return o;
}

static int64_t put_int64(uint8_t *out, int64_t o, const uint8_t *b, int32_t s) {
  int64_t v;
  memcpy(&v, b + s, 8); /* little-endian, as x86-64 and arm64 are */
  if (v < 0) out[o++] = '-';
  return put_digits(out, o, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/* A JSON column: null when empty, the text when verbatim; -1 otherwise. */
static int64_t put_json(uint8_t *out, int64_t o, const uint8_t *b, int32_t s, int32_t e) {
  if (s == e) {
    memcpy(out + o, "null", 4);
    return o + 4;
  }
  if (!bx_verbatim_json(b, s, e)) return -1;
  memcpy(out + o, b + s, (size_t)(e - s));
  return o + (e - s);
}

int bx_write_records(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                     const uint8_t *layout, uint8_t *out, int64_t n_out, int32_t *row, int64_t *out_at) {
#define UUID_OF(f) (layout[f] == BX_ENC_UUID ? put_uuid(out, o, b, S(f), E(f)) : put_string(out, o, b, S(f), E(f)))
#define TIME_OF(f, day)                                                                                              \
  (layout[f] == BX_ENC_TEXT ? put_timestamp(out, o, b, S(f), E(f))                                                   \
                            : put_binary_time(out, o, b, S(f), E(f), layout[f], &days[day]))
  /* The date of each timestamp field's last row (see bx_time_text_cached). */
  bx_day_cache_t days[3] = {{0, 0, {0}}, {0, 0, {0}}, {0, 0, {0}}};
  for (; *row < count; (*row)++) {
    const int32_t *x = index + (int64_t)*row * slots;
    int64_t field_bytes = 0;
    for (int f = 0; f < FIELDS; f++) {
      int32_t s = x[2 * f], e = x[2 * f + 1];
      if (s < 0) {
        if (f != INSERTED_AT) return BX_NEEDS_EXACT;
        continue;
      }
      if (e < s || e > n_bytes) return BX_NEEDS_EXACT;
      field_bytes += e - s;
    }
    if (x[2 * TEAM_ID] < 0 || x[2 * TEAM_ID] + 8 > n_bytes) return BX_NEEDS_EXACT;
    int64_t o = *out_at;
    if (o + ROW_OVERHEAD + 6 * field_bytes > n_out) return BX_NEEDS_ROOM;
#define S(f) x[2 * (f)]
#define E(f) x[2 * (f) + 1]
    PUT("{\"uuid\":");
    if ((o = UUID_OF(UUID)) < 0) return BX_NEEDS_EXACT;
    PUT(",\"event\":");
    if ((o = put_string(out, o, b, S(EVENT), E(EVENT))) < 0) return BX_NEEDS_EXACT;
    PUT(",\"properties\":");
    if ((o = put_json(out, o, b, S(PROPERTIES), E(PROPERTIES))) < 0) return BX_NEEDS_EXACT;
    PUT(",\"distinct_id\":");
    if ((o = put_string(out, o, b, S(DISTINCT_ID), E(DISTINCT_ID))) < 0) return BX_NEEDS_EXACT;
    PUT(",\"team_id\":");
    o = put_int64(out, o, b, S(TEAM_ID));
    PUT(",\"timestamp\":");
    if ((o = TIME_OF(TIMESTAMP, 0)) < 0) return BX_NEEDS_EXACT;
    PUT(",\"created_at\":");
    if ((o = TIME_OF(CREATED_AT, 1)) < 0) return BX_NEEDS_EXACT;
    PUT(",\"inserted_at\":");
    if (S(INSERTED_AT) < 0) PUT("null");
    else if ((o = TIME_OF(INSERTED_AT, 2)) < 0) return BX_NEEDS_EXACT;
    PUT(",\"elements_chain\":");
    if ((o = put_string(out, o, b, S(ELEMENTS_CHAIN), E(ELEMENTS_CHAIN))) < 0) return BX_NEEDS_EXACT;
    PUT(",\"person_id\":");
    if ((o = UUID_OF(PERSON_ID)) < 0) return BX_NEEDS_EXACT;
    PUT(",\"person_properties\":");
    if ((o = put_json(out, o, b, S(PERSON_PROPERTIES), E(PERSON_PROPERTIES))) < 0) return BX_NEEDS_EXACT;
    PUT("}\n");
#undef S
#undef E
    *out_at = o;
  }
  return BX_DONE;
#undef UUID_OF
#undef TIME_OF
}

static int64_t put_uint64(uint8_t *out, int64_t o, const uint8_t *b, int32_t s) {
  uint64_t u;
  memcpy(&u, b + s, 8);
  return put_digits(out, o, u);
}

int bx_write_columns(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t columns,
                     const uint8_t *kinds, const uint8_t *keys, const int32_t *key_ends, uint8_t *out, int64_t n_out,
                     int32_t *row, int64_t *out_at) {
  const int32_t slots = 2 * columns;
  const int64_t key_bytes = key_ends[columns - 1];
  for (; *row < count; (*row)++) {
    const int32_t *x = index + (int64_t)*row * slots;
    int64_t field_bytes = 0;
    for (int32_t c = 0; c < columns; c++) {
      int32_t s = x[2 * c], e = x[2 * c + 1];
      if (s < 0) continue;
      if (e < s || e > n_bytes) return BX_NEEDS_EXACT;
      if (kinds[c] >= BX_COLUMN_INT64 && kinds[c] <= BX_COLUMN_BOOLEAN && e - s != 8) return BX_NEEDS_EXACT;
      field_bytes += e - s;
    }
    int64_t o = *out_at;
    if (o + ROW_OVERHEAD + key_bytes + 6 * field_bytes > n_out) return BX_NEEDS_ROOM;
    for (int32_t c = 0; c < columns; c++) {
      const int32_t ks = c ? key_ends[c - 1] : 0;
      memcpy(out + o, keys + ks, (size_t)(key_ends[c] - ks));
      o += key_ends[c] - ks;
      const int32_t s = x[2 * c], e = x[2 * c + 1];
      if (s < 0) {
        PUT("null");
        continue;
      }
      switch (kinds[c]) {
        case BX_COLUMN_STRING:
          o = put_string(out, o, b, s, e);
          break;
        case BX_COLUMN_JSON:
          o = put_json(out, o, b, s, e);
          break;
        case BX_COLUMN_TIMESTAMP:
          o = put_timestamp(out, o, b, s, e);
          break;
        case BX_COLUMN_INT64:
          o = put_int64(out, o, b, s);
          break;
        case BX_COLUMN_UINT64:
          o = put_uint64(out, o, b, s);
          break;
        case BX_COLUMN_BOOLEAN: {
          uint64_t v;
          memcpy(&v, b + s, 8);
          if (v) PUT("true");
          else PUT("false");
          break;
        }
        default:
          return BX_NEEDS_EXACT;
      }
      if (o < 0) return BX_NEEDS_EXACT;
    }
    PUT("}\n");
    *out_at = o;
  }
  return BX_DONE;
}
