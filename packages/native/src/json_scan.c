/*
 * The check behind verbatimJsonField (packages/core/src/json-bytes.ts):
 * whether a JSON column can be copied into a record as it is (well-formed
 * UTF-8, one valid JSON value, no raw line break or control character, no
 * U+2028/U+2029, no lone surrogate escape, nesting at most MAX_DEPTH, no number PostgreSQL may
 * refuse: see number()). The tests compare its answers
 * with JSON.parse and jsonColumn on hostile and random inputs.
 */
#include "bx_native.h"
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
  const uint8_t *b;
  int64_t end;
} scan_t;

/* 1 for bytes a JSON string holds as they are: ASCII but for '"', '\\' and control characters. */
static const uint8_t STRING_PLAIN[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int64_t value(const scan_t *s, int64_t i, int depth);

static int64_t space(const scan_t *s, int64_t i) {
  while (i < s->end) {
    uint8_t c = s->b[i];
    if (c == 0x20 || c == 0x09) i++;
    else if (c == 0x0a || c == 0x0d) return -1;
    else break;
  }
  return i;
}

static int is_digit(uint8_t c) { return c >= 0x30 && c <= 0x39; }
static int is_hex(uint8_t c) { return is_digit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46); }

static int cont(const scan_t *s, int64_t i, uint8_t lo, uint8_t hi) {
  return i < s->end && s->b[i] >= lo && s->b[i] <= hi;
}

/* Length of the well-formed UTF-8 sequence at i (lead byte >= 0x80), or 0. */
static int utf8_sequence(const scan_t *s, int64_t i) {
  uint8_t c = s->b[i];
  if (c >= 0xc2 && c <= 0xdf) return cont(s, i + 1, 0x80, 0xbf) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return cont(s, i + 1, lo, hi) && cont(s, i + 2, 0x80, 0xbf) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return cont(s, i + 1, lo, hi) && cont(s, i + 2, 0x80, 0xbf) && cont(s, i + 3, 0x80, 0xbf) ? 4 : 0;
  }
  return 0;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether any of the 8 bytes of x is not plain string content: >= 0x80, < 0x20, '"' or '\\'. */
static int any_special(uint64_t x) {
  uint64_t below_space = (x - ONES * 0x20) & ~x;
  uint64_t quote = x ^ (ONES * 0x22), backslash = x ^ (ONES * 0x5c);
  uint64_t is_quote = (quote - ONES) & ~quote, is_backslash = (backslash - ONES) & ~backslash;
  return ((x | below_space | is_quote | is_backslash) & HIGHS) != 0;
}

/* The UTF-16 unit of the escape `\uXXXX` at i, or -1. */
static int escaped_unit(const scan_t *s, int64_t i) {
  const uint8_t *b = s->b;
  if (i + 5 >= s->end || b[i] != 0x5c || b[i + 1] != 0x75) return -1;
  int unit = 0;
  for (int k = 2; k < 6; k++) {
    uint8_t c = b[i + k];
    if (!is_hex(c)) return -1;
    unit = unit * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10);
  }
  return unit;
}

static int64_t string(const scan_t *s, int64_t i) {
  const uint8_t *b = s->b;
  int64_t end = s->end;
  for (i++; i < end; i++) {
    /* Plain bytes are most of a document: 16 (SSE2) or 8 at a time, then one by one. */
#if defined(__SSE2__)
    int found = 0;
    while (i + 16 <= end) {
      __m128i v = _mm_loadu_si128((const __m128i *)(b + i));
      int special = bx_escape_mask16(v) | _mm_movemask_epi8(v);
      if (special) {
        i += __builtin_ctz((unsigned)special);
        found = 1;
        break;
      }
      i += 16;
    }
    if (!found && end >= 16) {
      /*
       * Fewer than 16 bytes left: the 16 that end the value, those before i (read already, or
       * before the value in the same buffer) shifted out. The strings of small JSON columns end
       * there: the check of both JSON columns of 1.9M 400-byte rows took 0.14-0.15 s with their
       * bytes one by one, 0.105-0.11 s so.
       */
      __m128i v = _mm_loadu_si128((const __m128i *)(b + end - 16));
      unsigned special = (unsigned)(bx_escape_mask16(v) | _mm_movemask_epi8(v)) >> (i - (end - 16));
      i += special ? __builtin_ctz(special) : end - i;
      found = 1;
    }
    if (!found)
#endif
    {
      while (i + 8 <= end) {
        uint64_t x;
        memcpy(&x, b + i, 8);
        if (any_special(x)) break;
        i += 8;
      }
      while (i < end && STRING_PLAIN[b[i]]) i++;
    }
    if (i >= end) return -1;
    uint8_t c = b[i];
    if (c == 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c == 0x5c) {
      if (i + 1 >= end) return -1;
      uint8_t e = b[i + 1];
      if (e == 0x75) {
        int unit = escaped_unit(s, i);
        if (unit < 0) return -1;
        /* A lone surrogate escape is written U+FFFD (jsonColumn): a pair is copied, the rest is not verbatim. */
        if (unit >= 0xdc00 && unit <= 0xdfff) return -1;
        if (unit >= 0xd800 && unit <= 0xdbff) {
          int low = escaped_unit(s, i + 6);
          if (low < 0xdc00 || low > 0xdfff) return -1;
          i += 6;
        }
        i += 5;
      } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
        i++;
      } else {
        return -1;
      }
    } else {
      int n = utf8_sequence(s, i);
      if (n == 0 || (c == 0xe2 && b[i + 1] == 0x80 && (b[i + 2] == 0xa8 || b[i + 2] == 0xa9))) return -1;
      i += n - 1;
    }
  }
  return -1;
}

/*
 * Numbers PostgreSQL's numeric (JSONB) may refuse are left to the exact path
 * (hostile-values.ts), as if they were not JSON: MAX_DIGITS digits or more,
 * or an exponent of five digits or more. Any other number is far inside its
 * range (131,072 digits before the point, 16,383 after).
 */
#define MAX_DIGITS 6000

static int64_t number(const scan_t *s, int64_t i) {
  const uint8_t *b = s->b;
  int64_t end = s->end;
  if (b[i] == 0x2d) i++;
  if (i >= end) return -1;
  int64_t first = i;
  if (b[i] == 0x30) i++;
  else if (is_digit(b[i])) while (i < end && is_digit(b[i])) i++;
  else return -1;
  if (i < end && b[i] == 0x2e) {
    i++;
    if (i >= end || !is_digit(b[i])) return -1;
    while (i < end && is_digit(b[i])) i++;
  }
  if (i - first >= MAX_DIGITS) return -1;
  if (i < end && (b[i] == 0x65 || b[i] == 0x45)) {
    i++;
    if (i < end && (b[i] == 0x2b || b[i] == 0x2d)) i++;
    if (i >= end || !is_digit(b[i])) return -1;
    while (i < end && b[i] == 0x30) i++;
    int64_t significant = i;
    while (i < end && is_digit(b[i])) i++;
    if (i - significant >= 5) return -1;
  }
  return i;
}

static int64_t literal(const scan_t *s, int64_t i, const char *word, int n) {
  if (i + n > s->end) return -1;
  for (int k = 0; k < n; k++) if (s->b[i + k] != (uint8_t)word[k]) return -1;
  return i + n;
}

static int64_t object(const scan_t *s, int64_t i, int depth) {
  const uint8_t *b = s->b;
  int64_t end = s->end;
  i = space(s, i + 1);
  if (i < 0 || i >= end) return -1;
  if (b[i] == 0x7d) return i + 1;
  for (;;) {
    if (b[i] != 0x22) return -1;
    i = string(s, i);
    if (i < 0) return -1;
    i = space(s, i);
    if (i < 0 || i >= end || b[i] != 0x3a) return -1;
    i = space(s, i + 1);
    if (i < 0 || i >= end) return -1;
    i = value(s, i, depth + 1);
    if (i < 0) return -1;
    i = space(s, i);
    if (i < 0 || i >= end) return -1;
    uint8_t d = b[i];
    if (d == 0x7d) return i + 1;
    if (d != 0x2c) return -1;
    i = space(s, i + 1);
    if (i < 0 || i >= end) return -1;
  }
}

static int64_t array(const scan_t *s, int64_t i, int depth) {
  const uint8_t *b = s->b;
  int64_t end = s->end;
  i = space(s, i + 1);
  if (i < 0 || i >= end) return -1;
  if (b[i] == 0x5d) return i + 1;
  for (;;) {
    i = value(s, i, depth + 1);
    if (i < 0) return -1;
    i = space(s, i);
    if (i < 0 || i >= end) return -1;
    uint8_t d = b[i];
    if (d == 0x5d) return i + 1;
    if (d != 0x2c) return -1;
    i = space(s, i + 1);
    if (i < 0 || i >= end) return -1;
  }
}

static int64_t value(const scan_t *s, int64_t i, int depth) {
  uint8_t c = s->b[i];
  if (c == 0x22) return string(s, i);
  if (c == 0x7b) return depth < MAX_DEPTH ? object(s, i, depth) : -1;
  if (c == 0x5b) return depth < MAX_DEPTH ? array(s, i, depth) : -1;
  if (c == 0x74) return literal(s, i, "true", 4);
  if (c == 0x66) return literal(s, i, "false", 5);
  if (c == 0x6e) return literal(s, i, "null", 4);
  return number(s, i);
}

int bx_verbatim_json(const uint8_t *b, int64_t start, int64_t end) {
  scan_t s = {b, end};
  int64_t i = space(&s, start);
  if (i < 0 || i >= end) return 0;
  i = value(&s, i, 0);
  if (i < 0) return 0;
  return space(&s, i) == end;
}


int bx_utf8(const uint8_t *b, int64_t start, int64_t end) {
  scan_t s = {b, end};
  int64_t i = start;
  while (i < end) {
#if defined(__SSE2__)
    if (i + 16 <= end && _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(b + i))) == 0) {
      i += 16;
      continue;
    }
#endif
    if (i + 8 <= end) {
      uint64_t x;
      memcpy(&x, b + i, 8);
      if ((x & HIGHS) == 0) {
        i += 8;
        continue;
      }
    }
    if (b[i] < 0x80) {
      i++;
      continue;
    }
    int n = utf8_sequence(&s, i);
    if (n == 0) return 0;
    i += n;
  }
  return 1;
}
