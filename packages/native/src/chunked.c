/*
 * HTTP/1.1 chunked transfer coding decoded in place (ChunkedBody in
 * packages/clickhouse/src/chunked-body.ts calls it): the framing is removed
 * from the bytes just read by moving each chunk's data down over the framing
 * before it, once per chunk (ClickHouse sends a chunk per 4 KiB).
 */
#include "bx_native.h"
#include <string.h>

enum { SIZE, EXTENSION, SIZE_LF, DATA, DATA_END, DATA_LF, TRAILER, TRAILER_LINE, TRAILER_END_LF, DONE };

static int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  uint8_t lower = c | 0x20;
  if (lower >= 'a' && lower <= 'f') return lower - 'a' + 10;
  return -1;
}

int64_t bx_dechunk(uint8_t *buf, int64_t at, int64_t from, int64_t to, bx_chunked_t *st) {
  int64_t p = from;
  while (p < to && st->phase != DONE) {
    if (st->phase == DATA) {
      int64_t n = st->left < to - p ? st->left : to - p;
      if (at != p) memmove(buf + at, buf + p, (size_t)n);
      at += n;
      p += n;
      st->left -= n;
      if (st->left == 0) st->phase = DATA_END;
      continue;
    }
    uint8_t c = buf[p++];
    switch (st->phase) {
      case SIZE: {
        int d = hex_value(c);
        if (d >= 0) {
          /* 13 hex digits are more than any response can hold (2^52 bytes). */
          if (++st->digits > 13) return BX_CHUNK_SIZE_TOO_LONG;
          st->size = st->size * 16 + d;
        } else if (st->digits > 0 && (c == '\r' || c == ';' || c == ' ' || c == '\t')) {
          st->phase = c == '\r' ? SIZE_LF : EXTENSION;
        } else {
          st->bad = c;
          return BX_CHUNK_BAD_SIZE;
        }
        break;
      }
      case EXTENSION:
        if (c == '\r') st->phase = SIZE_LF;
        break;
      case SIZE_LF:
        if (c != '\n') return BX_CHUNK_SIZE_NO_LF;
        st->phase = st->size == 0 ? TRAILER : DATA;
        st->left = st->size;
        st->size = 0;
        st->digits = 0;
        break;
      case DATA_END:
        if (c != '\r') return BX_CHUNK_TOO_LONG;
        st->phase = DATA_LF;
        break;
      case DATA_LF:
        if (c != '\n') return BX_CHUNK_NO_CRLF;
        st->phase = SIZE;
        break;
      /* After the last chunk: trailer lines, each ending in CRLF, then an empty line. */
      case TRAILER:
        st->phase = c == '\r' ? TRAILER_END_LF : TRAILER_LINE;
        break;
      case TRAILER_LINE:
        if (c == '\n') st->phase = TRAILER;
        break;
      case TRAILER_END_LF:
        if (c != '\n') return BX_CHUNK_TRAILER_NO_LF;
        st->phase = DONE;
        break;
    }
  }
  return at;
}
