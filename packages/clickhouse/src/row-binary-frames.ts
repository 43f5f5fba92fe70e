import { EventBatch, FIELDS as ALL_FIELDS, Field, RetryableError, SLOTS as ROW_SLOTS } from '@bx/core';

// Read once: '@bx/core' re-exports are getters, too slow for the per-byte loop.
const FIELDS = ALL_FIELDS;
const SLOTS = ROW_SLOTS;
const TEAM_ID = Field.team_id;
const INSERTED_AT = Field.inserted_at;
const UUID_FIELDS = [Field.uuid, Field.person_id];
const TIME_FIELDS = [Field.timestamp, Field.created_at, Field.inserted_at];

/*
 * The wire layout of one events row in `FORMAT RowBinary`, in the order the
 * events query selects it (see `buildEventsQuery`): every value is a String
 * (varint length, bytes) except `team_id` (Int64, little-endian) and
 * `inserted_at` (Nullable: a flag byte, then the String unless null). The
 * frame index points at the values in place: an EventBatch.
 */

/** Where each row and field of a buffer of RowBinary rows lies. */
export interface Frames {
  /** Complete rows found. */
  count: number;
  /** Bytes the complete rows take from the start of the buffer. */
  used: number;
  /** `count × SLOTS` field bounds. */
  index: Int32Array;
  /** Bytes the buffer must hold before the next row can be complete (at least `used + 1`). */
  need: number;
}

/**
 * Finds the complete rows at the start of `b`. Every row is checked for the
 * shape the query produces (UUID text of 36 bytes, timestamp text, a null flag
 * of 0 or 1), so a stream that breaks off into an error message is reported,
 * not turned into rows.
 */
export function frameRows(b: Buffer): Frames {
  const n = b.length;
  let index = new Int32Array(1024 * SLOTS);
  let count = 0;
  let p = 0;
  let need = 0;
  rows: while (p < n) {
    if ((count + 1) * SLOTS > index.length) {
      const grown = new Int32Array(index.length * 2);
      grown.set(index);
      index = grown;
    }
    const slot = count * SLOTS;
    let q = p;
    for (let f = 0; f < FIELDS; f++) {
      if (f === TEAM_ID) {
        if (q + 8 > n) {
          need = q + 8;
          break rows;
        }
        index[slot + 2 * f] = q;
        index[slot + 2 * f + 1] = q + 8;
        q += 8;
        continue;
      }
      if (f === INSERTED_AT) {
        if (q >= n) {
          need = q + 1;
          break rows;
        }
        const flag = b[q++];
        if (flag === 1) {
          index[slot + 2 * f] = -1;
          index[slot + 2 * f + 1] = -1;
          continue;
        }
        if (flag !== 0) throw broken(b, p, `null flag ${flag} in inserted_at`);
      }
      // varint length (LEB128)
      let len = 0;
      let shift = 0;
      for (;;) {
        if (q >= n) {
          need = q + 1;
          break rows;
        }
        const byte = b[q++]!;
        len += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) break;
        shift += 7;
        if (shift > 35) throw broken(b, p, 'string length out of range');
      }
      if (q + len > n) {
        need = q + len;
        break rows;
      }
      index[slot + 2 * f] = q;
      index[slot + 2 * f + 1] = q + len;
      q += len;
    }
    checkShape(b, index, slot, p);
    count++;
    p = q;
    need = 0;
  }
  return { count, used: p, index, need: need > p ? need : p + 1 };
}

function checkShape(b: Buffer, index: Int32Array, slot: number, rowStart: number): void {
  for (const f of UUID_FIELDS) {
    const s = index[slot + 2 * f]!;
    const e = index[slot + 2 * f + 1]!;
    if (e - s !== 36 || b[s + 8] !== 0x2d || b[s + 23] !== 0x2d) throw broken(b, rowStart, 'not a UUID');
  }
  for (const f of TIME_FIELDS) {
    const s = index[slot + 2 * f]!;
    if (s === -1) continue;
    const e = index[slot + 2 * f + 1]!;
    if (e - s < 19 || e - s > 29 || b[s + 4] !== 0x2d || b[s + 10] !== 0x20 || b[s + 13] !== 0x3a) {
      throw broken(b, rowStart, 'not a timestamp');
    }
  }
}

/** The stream does not hold rows of the expected shape: most often ClickHouse broke off with an error. */
export function broken(b: Buffer, from: number, what: string): RetryableError {
  const text = b.toString('latin1', from, Math.min(b.length, from + 64 * 1024));
  const at = text.indexOf('Code: ');
  const detail = at !== -1 ? text.slice(at, at + 500).trim() : `${what} at byte ${from}`;
  return new RetryableError(`ClickHouse stream broken: ${detail}`, { code: 'ClickHouseStream' });
}

/** All the rows of a complete RowBinary response; a response that ends inside a row is broken. */
export function decodeRowBinary(b: Buffer): EventBatch {
  const frames = frameRows(b);
  if (frames.used !== b.length) throw broken(b, frames.used, 'incomplete row at the end of the stream');
  return new EventBatch(b, frames.index, frames.count);
}
