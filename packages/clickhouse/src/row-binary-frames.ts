import { RetryableError } from '@bx/core';
import { EventBatch, FIELDS, Field, FieldEncoding, SLOTS, TEXT_LAYOUT } from '@bx/batch';
import * as native from '@bx/native';

/*
 * The wire layout of one events row in `FORMAT RowBinary`, in the order the
 * events query selects it (see `buildEventsQuery`): every value is a String
 * (varint length, bytes) except `team_id` (Int64, little-endian),
 * `inserted_at` (Nullable: a flag byte, then the value unless null), and
 * the UUIDs and timestamps the batch layout reads binary (a UUID's 16
 * bytes, a DateTime's UInt32, a DateTime64's Int64). The frame index points
 * at the values in place: an EventBatch. Framing runs in C
 * (packages/native/src/frames.c).
 */
const STRING = 0;
const INT64 = 1;
const NULLABLE_STRING = 2;
const FIXED16 = 3;
const UINT32 = 4;
const NULLABLE_UINT32 = 5;
const NULLABLE_INT64 = 6;
const UUID_TEXT = 0x10;
const TIME_TEXT = 0x20;

/** The framing kinds of an events row whose fields are encoded as `layout` says. */
export function rowKinds(layout: Readonly<Uint8Array>): Uint8Array {
  const kinds = new Uint8Array(FIELDS);
  const time = (field: number, nullable: boolean) => {
    const encoding = layout[field]! & 0x0f;
    if (encoding === FieldEncoding.DATE_TIME) return nullable ? NULLABLE_UINT32 : UINT32;
    if (encoding === FieldEncoding.DATE_TIME64) return nullable ? NULLABLE_INT64 : INT64;
    return (nullable ? NULLABLE_STRING : STRING) | TIME_TEXT;
  };
  const uuid = (field: number) => (layout[field] === FieldEncoding.UUID ? FIXED16 : STRING | UUID_TEXT);
  kinds[Field.uuid] = uuid(Field.uuid);
  kinds[Field.team_id] = INT64;
  kinds[Field.timestamp] = time(Field.timestamp, false);
  kinds[Field.created_at] = time(Field.created_at, false);
  kinds[Field.inserted_at] = time(Field.inserted_at, true);
  kinds[Field.person_id] = uuid(Field.person_id);
  return kinds;
}

const TEXT_KINDS = rowKinds(TEXT_LAYOUT);

const INDEX_FULL = 1;
const BROKEN = 2;
const REASONS = ['', 'null flag', 'string length out of range', 'not a UUID', 'not a timestamp'];
const FIELD_NAMES = Object.keys(Field);

/** Where each row and field of a buffer of RowBinary rows lies. */
export interface Frames {
  /** Complete rows found. */
  count: number;
  /** Bytes the complete rows take from the start of the buffer. */
  used: number;
  /** Field bounds, `SLOTS` a row (the first `count` rows'; it may hold room for more). */
  index: Int32Array;
  /** Bytes the buffer must hold before the next row can be complete (at least `used + 1`). */
  need: number;
}

const state = new Float64Array(4);
/** Rows an index is first made for (it doubles when a buffer holds more). */
const INITIAL_ROWS = 4096;

/**
 * Finds the complete rows at the start of `b`, indexed into `index` (a new,
 * larger one when it cannot hold them all: `Frames.index` is the one to
 * keep), each field of the wire type `kinds` gives (see rowKinds). Every
 * row is checked for the shape the query produces (UUID text of 36 bytes,
 * timestamp text, a null flag of 0 or 1), so a stream that breaks off into
 * an error message is reported, not turned into rows: with binary UUIDs and
 * timestamps the null flag of inserted_at is the check (ClickHouse's error
 * text, ASCII, never holds a 0 or 1 byte), or the row left incomplete at
 * the end of the stream.
 */
export function frameRows(
  b: Buffer,
  index: Int32Array = new Int32Array(INITIAL_ROWS * SLOTS),
  kinds: Uint8Array = TEXT_KINDS,
): Frames {
  for (;;) {
    const why = native.frameRows(b, kinds, index, state);
    if (why === INDEX_FULL) {
      index = new Int32Array(index.length * 2);
      continue;
    }
    const [count, used, need, detail] = state as unknown as [number, number, number, number];
    if (why === BROKEN) {
      const flag = (detail >> 8) & 0xff;
      const what = `${REASONS[detail & 0xff]}${flag ? ` ${flag}` : ''} in ${FIELD_NAMES[detail >> 16]}`;
      throw broken(b, used, what);
    }
    return { count, used, index, need };
  }
}

/** The stream does not hold rows of the expected shape: most often ClickHouse broke off with an error. */
export function broken(b: Buffer, from: number, what: string): RetryableError {
  const text = b.toString('latin1', from, Math.min(b.length, from + 64 * 1024));
  const at = text.indexOf('Code: ');
  const detail = at !== -1 ? text.slice(at, at + 500).trim() : `${what} at byte ${from}`;
  return new RetryableError(`ClickHouse stream broken: ${detail}`, { code: 'ClickHouseStream' });
}

/** All the rows of a complete RowBinary response, fields encoded as `layout` says; a response that ends inside a row is broken. */
export function decodeRowBinary(b: Buffer, layout: Readonly<Uint8Array> = TEXT_LAYOUT): EventBatch {
  const frames = frameRows(b, undefined, layout === TEXT_LAYOUT ? TEXT_KINDS : rowKinds(layout));
  if (frames.used !== b.length) throw broken(b, frames.used, 'incomplete row at the end of the stream');
  return new EventBatch(b, frames.index.slice(0, frames.count * SLOTS), frames.count, layout);
}
