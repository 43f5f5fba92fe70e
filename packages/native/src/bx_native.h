/* The C side of @bx/native: byte loops over event batches (see ../index.d.ts). */
#ifndef BX_NATIVE_H
#define BX_NATIVE_H
#include <stdint.h>

/* Whether b[start, end) is verbatim JSON, as verbatimJsonField (packages/core/src/json-bytes.ts) defines it. */
int bx_verbatim_json(const uint8_t *b, int64_t start, int64_t end);

/* What bx_write_records stopped for. */
enum { BX_DONE = 0, BX_NEEDS_ROOM = 1, BX_NEEDS_EXACT = 2 };

/*
 * Writes the contract's JSON Lines records of rows *row.. of a batch into
 * out[*o..], as EventBatch.records() defines them, advancing *row and *o.
 * Stops at the end of the batch, when the next row might not fit (room for
 * 256 + 6 x its field bytes is needed), or at a row only toRecordLine can
 * write (a JSON column to normalise, a timestamp in another form).
 */
int bx_write_records(const uint8_t *b, int64_t n_bytes, const int32_t *index, int32_t count, int32_t slots,
                     uint8_t *out, int64_t n_out, int32_t *row, int64_t *o);

#endif
