/*
 * One column of a batch into an open Parquet page (PLAIN encoding), as the
 * S3 destination's ColumnWriter writes it value by value in TypeScript
 * (packages/destinations/s3/src/parquet/): see bx_parquet_column in
 * bx_native.h. The tests hold its pages to the TypeScript writer's, byte for
 * byte, on hostile batches.
 */
#include "bx_native.h"
#include <string.h>

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static int digits(const uint8_t *b, int64_t at, int n, int64_t *out) {
  int64_t v = 0;
  for (int i = 0; i < n; i++) {
    const unsigned d = (unsigned)b[at + i] - '0';
    if (d > 9) return 0;
    v = v * 10 + d;
  }
  *out = v;
  return 1;
}

/*
 * ClickHouse's `YYYY-MM-DD hh:mm:ss[.f…]` (UTC) as microseconds since the
 * epoch, as timestampMicros computes it (digits past the sixth dropped);
 * 0 for any other form (TypeScript parses or refuses those).
 */
static int micros_of(const uint8_t *b, int64_t s, int64_t e, int64_t *out) {
  const int64_t n = e - s;
  if (n < 19 || b[s + 4] != '-' || b[s + 7] != '-' || b[s + 10] != ' ' || b[s + 13] != ':' || b[s + 16] != ':')
    return 0;
  int64_t y, m, d, hh, mm, ss, frac = 0;
  if (!digits(b, s, 4, &y) || !digits(b, s + 5, 2, &m) || !digits(b, s + 8, 2, &d) || !digits(b, s + 11, 2, &hh) ||
      !digits(b, s + 14, 2, &mm) || !digits(b, s + 17, 2, &ss))
    return 0;
  if (n > 19) {
    if (b[s + 19] != '.' || n == 20) return 0;
    int places = 0;
    for (int64_t i = s + 20; i < e; i++) {
      const unsigned dg = (unsigned)b[i] - '0';
      if (dg > 9) return 0;
      if (places++ < 6) frac = frac * 10 + dg;
    }
    for (; places < 6; places++) frac *= 10;
  }
  /* Days from the civil calendar (proleptic Gregorian), as in timestamp-micros.ts. */
  if (m <= 2) y -= 1;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
  *out = (days * 86400 + hh * 3600 + mm * 60 + ss) * 1000000 + frac;
  /* TypeScript computes in doubles, exact below 2^53 µs (the year 2255): beyond, its rounding is the reference. */
  return *out < ((int64_t)1 << 53) && *out > -((int64_t)1 << 53);
}

static const int64_t SCALE_TO_MICROS[10] = {1000000, 100000, 10000, 1000, 100, 10, 1, 10, 100, 1000};

/* A binary DateTime or DateTime64 as microseconds (digits past the sixth dropped, as from its text); 0 if it is none. */
static int binary_micros(const uint8_t *b, int64_t s, int64_t e, uint8_t encoding, int64_t *out) {
  int64_t seconds, fraction;
  int digits;
  if (!bx_binary_time(b, s, e, encoding, &seconds, &fraction, &digits)) return 0;
  const int64_t frac = digits <= 6 ? fraction * SCALE_TO_MICROS[digits] : fraction / SCALE_TO_MICROS[digits];
  *out = seconds * 1000000 + frac;
  return *out < ((int64_t)1 << 53) && *out > -((int64_t)1 << 53);
}

int bx_parquet_column(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                      int32_t field, int kind, uint8_t encoding, int optional, bx_parquet_page_t *pg, int64_t *stats) {
  for (; pg->row < count; pg->row++) {
    if (optional && pg->values >= pg->levels_cap) return BX_PQ_NEEDS_ROOM;
    const int32_t *x = index + (int64_t)pg->row * slots + 2 * field;
    const int64_t s = x[0], e = x[1];
    int defined = 1;
    if (s < 0 || e < s || e > n_bytes) {
      /* Null: only an optional timestamp (inserted_at) is framed null; anything else is TypeScript's to refuse. */
      if (s != -1 || kind != BX_PQ_TIMESTAMP || !optional) return BX_PQ_NEEDS_JS;
      defined = 0;
    } else if (kind == BX_PQ_TEXT && encoding == BX_ENC_UUID) {
      if (e - s != 16) return BX_PQ_NEEDS_JS;
      if (pg->o + 4 + 36 > pg->cap) {
        pg->need = 4 + 36;
        return BX_PQ_NEEDS_ROOM;
      }
      put_u32(pg->page + pg->o, 36);
      bx_uuid_text(pg->page + pg->o + 4, b + s);
      pg->o += 4 + 36;
    } else if (kind == BX_PQ_TEXT || kind == BX_PQ_JSON) {
      if (kind == BX_PQ_JSON && (s == e || (e - s == 4 && memcmp(b + s, "null", 4) == 0))) {
        if (!optional) return BX_PQ_NEEDS_JS;
        defined = 0;
      } else {
        if (kind == BX_PQ_JSON && !bx_verbatim_json(b, s, e)) return BX_PQ_NEEDS_JS;
        if (pg->o + 4 + (e - s) > pg->cap) {
          pg->need = 4 + (e - s);
          return BX_PQ_NEEDS_ROOM;
        }
        put_u32(pg->page + pg->o, (uint32_t)(e - s));
        memcpy(pg->page + pg->o + 4, b + s, (size_t)(e - s));
        pg->o += 4 + (e - s);
      }
    } else {
      int64_t v;
      if (kind == BX_PQ_INT64) {
        if (e - s != 8) return BX_PQ_NEEDS_JS;
        memcpy(&v, b + s, 8); /* little-endian, as x86-64 and arm64 are */
      } else if (encoding == BX_ENC_TEXT ? !micros_of(b, s, e, &v) : !binary_micros(b, s, e, encoding, &v)) {
        return BX_PQ_NEEDS_JS;
      }
      if (pg->o + 8 > pg->cap) {
        pg->need = 8;
        return BX_PQ_NEEDS_ROOM;
      }
      memcpy(pg->page + pg->o, &v, 8);
      pg->o += 8;
      /* stats: min, max, whether any */
      if (!stats[2] || v < stats[0]) stats[0] = v;
      if (!stats[2] || v > stats[1]) stats[1] = v;
      stats[2] = 1;
    }
    if (optional) pg->levels[pg->values] = (uint8_t)defined;
    if (!defined) pg->nulls++;
    pg->values++;
    if (pg->o - pg->base >= pg->page_bytes) {
      pg->row++;
      return BX_PQ_PAGE_FULL;
    }
  }
  return BX_PQ_DONE;
}
