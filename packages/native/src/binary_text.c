/*
 * ClickHouse's binary UUIDs and timestamps (RowBinary) as the text its
 * toString() writes for them, in UTC: see bx_native.h. The tests hold them
 * to ClickHouse's own toString() (18.16 and chdb) and to the TypeScript
 * formatting of EventBatch.row().
 */
#include "bx_native.h"
#include <string.h>

void bx_uuid_text(uint8_t *out, const uint8_t *b) {
  /* Two little-endian UInt64, the high half first: text byte i is b[7 - i], then b[15 - (i - 8)]. */
#if defined(__SSE2__)
  /*
   * All 32 digits at once: byte-swapped halves, nibbles split and interleaved, then '0' + x, and
   * 39 more for a-f. The records of 1.9M 400-byte rows (two UUIDs each; bench/data-path-cpu.ts,
   * alternated 3 times): 0.24-0.31 s with a digit at a time, 0.22-0.26 s.
   */
  uint64_t hi, lo;
  memcpy(&hi, b, 8);
  memcpy(&lo, b + 8, 8);
  const __m128i v = _mm_set_epi64x((long long)__builtin_bswap64(lo), (long long)__builtin_bswap64(hi));
  const __m128i nibble = _mm_set1_epi8(0x0f);
  const __m128i high = _mm_and_si128(_mm_srli_epi16(v, 4), nibble), low = _mm_and_si128(v, nibble);
  __m128i digits[2] = {_mm_unpacklo_epi8(high, low), _mm_unpackhi_epi8(high, low)};
  for (int k = 0; k < 2; k++) {
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(digits[k], _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10));
    digits[k] = _mm_add_epi8(_mm_add_epi8(digits[k], _mm_set1_epi8('0')), letter);
  }
  uint8_t hex[32];
  _mm_storeu_si128((__m128i *)hex, digits[0]);
  _mm_storeu_si128((__m128i *)(hex + 16), digits[1]);
  memcpy(out, hex, 8);
  out[8] = '-';
  memcpy(out + 9, hex + 8, 4);
  out[13] = '-';
  memcpy(out + 14, hex + 12, 4);
  out[18] = '-';
  memcpy(out + 19, hex + 16, 4);
  out[23] = '-';
  memcpy(out + 24, hex + 20, 12);
#else
  static const char HEX[] = "0123456789abcdef";
  int o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    const uint8_t x = b[i < 8 ? 7 - i : 23 - i];
    out[o++] = (uint8_t)HEX[x >> 4];
    out[o++] = (uint8_t)HEX[x & 15];
  }
#endif
}

static const int64_t POW10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

int bx_binary_time(const uint8_t *b, int64_t s, int64_t e, uint8_t encoding, int64_t *seconds, int64_t *fraction,
                   int *digits) {
  if ((encoding & 0x0f) == BX_ENC_DATETIME) {
    if (e - s != 4) return 0;
    uint32_t v;
    memcpy(&v, b + s, 4); /* little-endian, as x86-64 and arm64 are */
    *seconds = v;
    *fraction = 0;
    *digits = 0;
    return 1;
  }
  const int scale = encoding >> 4;
  if ((encoding & 0x0f) != BX_ENC_DATETIME64 || e - s != 8 || scale > 9) return 0;
  int64_t ticks;
  memcpy(&ticks, b + s, 8);
  /* Whole seconds rounded down, so the fraction of an instant before 1970 counts up from them. */
  int64_t secs = ticks / POW10[scale], frac = ticks % POW10[scale];
  if (frac < 0) {
    secs -= 1;
    frac += POW10[scale];
  }
  *seconds = secs;
  *fraction = frac;
  *digits = scale;
  return 1;
}

/* "00" to "99": a pair of digits in one copy (a division by 10 each cost more). */
static const char PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static void two(uint8_t *out, int64_t v) { memcpy(out, PAIRS + 2 * v, 2); }

/* `YYYY-MM-DD` of a day since 1970-01-01; 0 for a year outside 0000-9999. */
static int date_text(uint8_t *out, int64_t days) {
  /* Civil date from days since 1970-01-01 (proleptic Gregorian; Howard Hinnant's days_from_civil, inverted). */
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  if (y < 0 || y > 9999) return 0;
  two(out, y / 100);
  two(out + 2, y % 100);
  out[4] = '-';
  two(out + 5, m);
  out[7] = '-';
  two(out + 8, d);
  return 1;
}

int bx_time_text_cached(uint8_t *out, int64_t seconds, int64_t fraction, int digits, bx_day_cache_t *cache) {
  int64_t days = seconds / 86400, secs = seconds % 86400;
  if (secs < 0) {
    secs += 86400;
    days -= 1;
  }
  if (!cache) {
    if (!date_text(out, days)) return 0;
  } else {
    if (days != cache->day || !cache->valid) {
      if (!date_text(cache->text, days)) return 0;
      cache->day = days;
      cache->valid = 1;
    }
    memcpy(out, cache->text, 10);
  }
  out[10] = ' ';
  const int64_t minutes = secs / 60;
  two(out + 11, minutes / 60);
  out[13] = ':';
  two(out + 14, minutes % 60);
  out[16] = ':';
  two(out + 17, secs - minutes * 60);
  if (digits == 0) return 19;
  out[19] = '.';
  for (int i = digits; i > 0; i--) {
    out[19 + i] = (uint8_t)('0' + fraction % 10);
    fraction /= 10;
  }
  return 20 + digits;
}

int bx_time_text(uint8_t *out, int64_t seconds, int64_t fraction, int digits) {
  return bx_time_text_cached(out, seconds, fraction, digits, NULL);
}
