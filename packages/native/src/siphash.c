/* Receipts: ClickHouse's sipHash64 of a field of every row, summed (see bx_receipt_tally in bx_native.h). */
#include <string.h>
#include "bx_native.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND           \
  do {                     \
    v0 += v1;              \
    v1 = ROTL(v1, 13);     \
    v1 ^= v0;              \
    v0 = ROTL(v0, 32);     \
    v2 += v3;              \
    v3 = ROTL(v3, 16);     \
    v3 ^= v2;              \
    v0 += v3;              \
    v3 = ROTL(v3, 21);     \
    v3 ^= v0;              \
    v2 += v1;              \
    v1 = ROTL(v1, 17);     \
    v1 ^= v2;              \
    v2 = ROTL(v2, 32);     \
  } while (0)

/* Little-endian 64-bit load whatever the host's order. */
static inline uint64_t load64(const uint8_t *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
         (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

uint64_t bx_siphash64(const uint8_t *p, int64_t n) {
  /* SipHash-2-4 with the key (0, 0): the initial state is the constants themselves. */
  uint64_t v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL, v2 = 0x6c7967656e657261ULL,
           v3 = 0x7465646279746573ULL;
  const uint8_t *end = p + (n & ~(int64_t)7);
  for (; p != end; p += 8) {
    const uint64_t m = load64(p);
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  uint64_t last = (uint64_t)n << 56;
  switch (n & 7) {
    case 7: last |= (uint64_t)p[6] << 48; /* fall through */
    case 6: last |= (uint64_t)p[5] << 40; /* fall through */
    case 5: last |= (uint64_t)p[4] << 32; /* fall through */
    case 4: last |= (uint64_t)p[3] << 24; /* fall through */
    case 3: last |= (uint64_t)p[2] << 16; /* fall through */
    case 2: last |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: last |= (uint64_t)p[0]; /* fall through */
    default: break;
  }
  v3 ^= last;
  SIPROUND;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* Byte order of two fields' text, shorter first on a common prefix (memcmp, then length). */
static int compare_text(const uint8_t *b, int32_t s1, int32_t e1, int32_t s2, int32_t e2) {
  const int32_t n1 = e1 - s1, n2 = e2 - s2;
  const int c = memcmp(b + s1, b + s2, (size_t)(n1 < n2 ? n1 : n2));
  return c != 0 ? c : (n1 > n2) - (n1 < n2);
}

/* A binary DateTime (UInt32) or DateTime64 (Int64 ticks) as a number that orders as the instants do. */
static int64_t binary_ticks(const uint8_t *b, int32_t s, uint8_t encoding) {
  if ((encoding & 0x0f) == BX_ENC_DATETIME) {
    uint32_t v;
    memcpy(&v, b + s, 4); /* little-endian, as x86-64 and arm64 are */
    return v;
  }
  int64_t v;
  memcpy(&v, b + s, 8);
  return v;
}

/* Order of two time fields: their text's byte order, or their instants' when binary (`encoding`). */
static int compare_time(const uint8_t *b, uint8_t encoding, int32_t s1, int32_t e1, int32_t s2, int32_t e2) {
  if (encoding == BX_ENC_TEXT) return compare_text(b, s1, e1, s2, e2);
  const int64_t t1 = binary_ticks(b, s1, encoding), t2 = binary_ticks(b, s2, encoding);
  return (t1 > t2) - (t1 < t2);
}

int bx_receipt_tally(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                     int32_t key_field, uint8_t key_encoding, int32_t time_field, uint8_t time_encoding, uint64_t *sum,
                     int32_t *min_row, int32_t *max_row) {
  /* Bytes a binary time field holds (a DateTime's 4, a DateTime64's 8); 0 for text. */
  const int32_t time_width = time_encoding == BX_ENC_TEXT                     ? 0
                             : (time_encoding & 0x0f) == BX_ENC_DATETIME ? 4
                                                                           : 8;
  uint8_t text[36];
  uint64_t total = *sum;
  int32_t lo = -1, hi = -1;
  for (int32_t r = 0; r < count; r++) {
    const int32_t *row = index + (size_t)r * slots;
    const int32_t ks = row[2 * key_field], ke = row[2 * key_field + 1];
    if (ks < 0 || ke < ks || (int64_t)ke > n_bytes) return 0;
    if (key_encoding == BX_ENC_UUID) {
      /* The checksum is of the UUID's text, as ClickHouse's sipHash64(toString(uuid)). */
      if (ke - ks != 16) return 0;
      bx_uuid_text(text, b + ks);
      total += bx_siphash64(text, 36);
    } else {
      total += bx_siphash64(b + ks, ke - ks);
    }
    const int32_t ts = row[2 * time_field], te = row[2 * time_field + 1];
    if (ts < 0) continue;
    if (te < ts || (int64_t)te > n_bytes || (time_width && te - ts != time_width)) return 0;
    if (lo < 0 || compare_time(b, time_encoding, ts, te, index[(size_t)lo * slots + 2 * time_field],
                               index[(size_t)lo * slots + 2 * time_field + 1]) < 0)
      lo = r;
    if (hi < 0 || compare_time(b, time_encoding, ts, te, index[(size_t)hi * slots + 2 * time_field],
                               index[(size_t)hi * slots + 2 * time_field + 1]) > 0)
      hi = r;
  }
  *sum = total;
  *min_row = lo;
  *max_row = hi;
  return 1;
}
