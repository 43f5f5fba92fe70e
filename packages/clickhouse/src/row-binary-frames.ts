import { RetryableError, type RecordColumn } from '@bx/core';
import { EVENTS_FORMAT, FieldEncoding, type BatchFormat, type EventBatch, type RecordBatch } from '@bx/batch';
import * as native from '@bx/native';

/*
 * The wire layout of one row in `FORMAT RowBinary`, in the order a model's
 * query selects its columns (see ModelPlugin): every value is a String
 * (varint length, bytes) except the 64-bit types (`int64`, `uint64`,
 * `boolean`: 8 bytes, little-endian), a nullable value (a flag byte, then
 * the value unless null), and the UUIDs and timestamps the format's layout
 * reads binary (a UUID's 16 bytes, a DateTime's UInt32, a DateTime64's
 * Int64). UUIDs and timestamps selected as text (`toString`) are checked
 * for their shape. The frame index points at the values in place: a batch
 * of the model's format. Framing runs in C
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

/**
 * The wire kind of each column, as native.frameRows reads it: as its type's
 * text or 8 bytes, or binary where `layout` (FieldEncoding by column) says.
 */
export function wireKinds(columns: readonly RecordColumn[], layout?: Readonly<Uint8Array>): Uint8Array {
  return Uint8Array.from(columns, (c, i) => {
    const encoding = (layout?.[i] ?? FieldEncoding.TEXT) & 0x0f;
    if (encoding === FieldEncoding.UUID && c.type === 'uuid' && !c.nullable) return FIXED16;
    if (encoding === FieldEncoding.DATE_TIME && c.type === 'timestamp') return c.nullable ? NULLABLE_UINT32 : UINT32;
    if (encoding === FieldEncoding.DATE_TIME64 && c.type === 'timestamp') return c.nullable ? NULLABLE_INT64 : INT64;
    if (encoding !== FieldEncoding.TEXT) throw new TypeError(`column ${c.name}: no binary wire form ${encoding}`);
    switch (c.type) {
      case 'int64':
      case 'uint64':
      case 'boolean':
        if (c.nullable) throw new TypeError(`column ${c.name}: a nullable ${c.type} has no wire form`);
        return INT64;
      case 'uuid':
        return (c.nullable ? NULLABLE_STRING : STRING) | UUID_TEXT;
      case 'timestamp':
        return (c.nullable ? NULLABLE_STRING : STRING) | TIME_TEXT;
      default:
        return c.nullable ? NULLABLE_STRING : STRING;
    }
  });
}

const KINDS = new WeakMap<BatchFormat, Uint8Array>();
function kindsOf(format: BatchFormat): Uint8Array {
  let kinds = KINDS.get(format);
  if (!kinds) KINDS.set(format, (kinds = wireKinds(format.columns, format.layout)));
  return kinds;
}

const INDEX_FULL = 1;
const BROKEN = 2;
const REASONS = ['', 'null flag', 'string length out of range', 'not a UUID', 'not a timestamp'];

/** Where each row and field of a buffer of RowBinary rows lies. */
export interface Frames {
  /** Complete rows found. */
  count: number;
  /** Bytes the complete rows take from the start of the buffer. */
  used: number;
  /** Field bounds, `format.slots` a row (the first `count` rows'; it may hold room for more). */
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
 * keep), each column of the wire type its format gives (see wireKinds). Every
 * row is checked for the shape the query produces (UUID text of 36 bytes,
 * timestamp text, a null flag of 0 or 1), so a stream that breaks off into
 * an error message is reported, not turned into rows: with binary UUIDs and
 * timestamps the null flag of inserted_at is the check (ClickHouse's error
 * text, ASCII, never holds a 0 or 1 byte), or the row left incomplete at
 * the end of the stream.
 */
export function frameRows(
  b: Buffer,
  format: BatchFormat = EVENTS_FORMAT,
  index: Int32Array = new Int32Array(INITIAL_ROWS * format.slots),
): Frames {
  const kinds = kindsOf(format);
  for (;;) {
    const why = native.frameRows(b, kinds, index, state);
    if (why === INDEX_FULL) {
      index = new Int32Array(index.length * 2);
      continue;
    }
    const [count, used, need, detail] = state as unknown as [number, number, number, number];
    if (why === BROKEN) {
      const flag = (detail >> 8) & 0xff;
      const what = `${REASONS[detail & 0xff]}${flag ? ` ${flag}` : ''} in ${format.columns[detail >> 16]?.name}`;
      throw broken(b, used, what);
    }
    return { count, used, index, need };
  }
}

/** The stream does not hold rows of the expected shape: most often ClickHouse broke off with an error. */
export function broken(b: Buffer, from: number, what: string): RetryableError {
  const text = exceptionText(b);
  const detail = text !== null ? text.slice(0, 500).trim() : `${what} at byte ${from}`;
  return new RetryableError(`ClickHouse stream broken: ${detail}`, { code: 'ClickHouseStream' });
}

/** Bytes at the end of an answer searched for ClickHouse's exception: its text is shorter. */
const EXCEPTION_REACH = 64 * 1024;
/** ClickHouse's own exception (18.16: `Code: 241, e.displayText() = DB::Exception`; later `Code: 241. DB::Exception`). */
const EXCEPTION = /Code: \d+(?:, e\.displayText\(\) = |\. )DB::Exception/g;

/**
 * The exception ClickHouse wrote into its answer after the rows it had sent,
 * or null. The text is the last thing in the answer, so it is the run of
 * text bytes that ends what was read, wherever the rows broke: a row cut in
 * its last fields (those after inserted_at's null flag) takes the text's
 * first bytes as their values and looks whole, so the row found broken (the
 * next) starts inside the text; a wide row cut in a long value breaks at its
 * start, far before the text. The last row's own text fields (a user's
 * properties) may end that run too, right before the exception: the last of
 * ClickHouse's exception openings in it is taken, not a user's `Code: `
 * (which put their words, an email, in the run's error instead).
 */
function exceptionText(b: Buffer): string | null {
  const floor = Math.max(0, b.length - EXCEPTION_REACH);
  let start = b.length;
  while (start > floor && isTextByte(b[start - 1]!)) start--;
  const text = b.toString('latin1', start);
  let at = -1;
  for (const match of text.matchAll(EXCEPTION)) at = match.index;
  if (at === -1) return null;
  // One latin1 character per byte: the match's index is its byte offset.
  return b.toString('utf8', start + at, Math.min(b.length, start + at + 2048));
}

/** A byte of an error message: printable ASCII, tab, line ends, or part of a UTF-8 character. */
function isTextByte(c: number): boolean {
  return c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** All the rows of a complete RowBinary response (events by default); a response that ends inside a row is broken. */
export function decodeRowBinary<B extends RecordBatch = EventBatch>(
  b: Buffer,
  format: BatchFormat<B> = EVENTS_FORMAT as unknown as BatchFormat<B>,
): B {
  const frames = frameRows(b, format);
  if (frames.used !== b.length) throw broken(b, frames.used, 'incomplete row at the end of the stream');
  return format.batch(b, frames.index.slice(0, frames.count * format.slots), frames.count);
}
