import { isUtf8 } from 'node:buffer';
import { binaryText, FIELDS, Field, FieldEncoding, SLOTS, timestampMicros, type EventBatch } from '@bx/batch';
import type { ColumnEncoding } from './events-table';
import { jsonForPostgres, textForPostgres, tooDeep } from './hostile-values';

/** The binary COPY file's signature, flags and header extension length. */
export const BINARY_COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** The field count -1 that ends the rows. */
export const BINARY_COPY_TRAILER = Buffer.from([0xff, 0xff]);

// How each record field is written, fixed per field by the record and per column by its type.
const enum Kind {
  Text,
  Json,
  Jsonb,
  Int8,
  Int4,
  Timestamp,
}

const TEXT_FIELDS = Uint8Array.of(Field.uuid, Field.event, Field.distinct_id, Field.elements_chain, Field.person_id);
const JSON_FIELDS = new Set<number>([Field.properties, Field.person_properties]);
/** Escapes JSONB refuses (`\u0000`) or may refuse (a surrogate: refused when lone). */
const RISKY_ESCAPES = ['\\u0000', '\\ud', '\\uD'].map((s) => Buffer.from(s));
/** 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix microseconds. */
const PG_EPOCH_MICROS = 946_684_800_000_000;
const TWO_32 = 2 ** 32;
/** Copying a short field byte by byte beats a native call. */
const SHORT_FIELD = 32;
const NULL_JSON = Buffer.from('null');

/**
 * Writes batches of events as the rows of PostgreSQL's binary COPY format:
 * no escaping and no text parsing on the server (timestamps arrive as
 * microseconds, team_id as an integer), and text and JSON are the source's
 * own bytes. A row holding a value PostgreSQL refuses (see hostile-values.ts),
 * or JSON to normalise, takes the exact path: decoded, repaired, re-encoded.
 */
export class BinaryCopyEncoder {
  /** Rows of the last `encode` that took the exact path, for tests and profiling. */
  exactRows = 0;
  private readonly kinds: Kind[];
  /** Per field, the microseconds a timestamp is cut to (1, or 10^(6 - p) for a column of p digits). */
  private readonly steps: number[];

  /** `encodings`: one per record field, in record order (see `columnPlan`). */
  constructor(encodings: readonly ColumnEncoding[]) {
    if (encodings.length !== FIELDS) throw new RangeError(`${encodings.length} column encodings for ${FIELDS} fields`);
    this.kinds = encodings.map((encoding, f) => kindOf(encoding, f));
    this.steps = encodings.map(timestampStep);
  }

  /** The batch's rows in binary COPY format (no header or trailer). */
  encode(batch: EventBatch): Buffer {
    const { bytes, index, count, layout } = batch;
    if (count === 0) return Buffer.alloc(0);
    const risky = riskyRows(batch);
    const verbatim = new Map<number, Uint8Array>();
    for (const f of JSON_FIELDS) verbatim.set(f, batch.verbatimJson(f));
    const { kinds, steps } = this;
    // A binary UUID is written as its 36 characters (20 more than its bytes), a binary DateTime as 8 bytes (4 more).
    let binaryRoom = 0;
    for (let f = 0; f < FIELDS; f++) {
      if (layout[f] === FieldEncoding.UUID) binaryRoom += 20;
      else if (layout[f] !== FieldEncoding.TEXT) binaryRoom += 4;
    }
    let out = Buffer.allocUnsafe(bytes.length + count * 64);
    let o = 0;
    const room = (n: number) => {
      if (o + n <= out.length) return;
      const bigger = Buffer.allocUnsafe(Math.max(o + n, out.length * 2));
      out.copy(bigger, 0, 0, o);
      out = bigger;
    };
    const putText = (text: string, prefix: number) => {
      const n = Buffer.byteLength(text);
      room(n + 5);
      out.writeInt32BE(n + prefix, o);
      if (prefix) out[o + 4] = 1;
      o += 4 + prefix;
      o += out.write(text, o);
    };
    this.exactRows = 0;
    for (let r = 0; r < count; r++) {
      const base = r * SLOTS;
      // A row's fields never take more than their source bytes plus 4 bytes of length each, but
      // for a JSONB version byte and `null` for empty JSON, and the text of binary fields (the
      // exact path asks for more itself).
      room(index[base + SLOTS - 1]! - index[base]! + 64 + binaryRoom);
      out.writeInt16BE(FIELDS, o);
      o += 2;
      const exact = risky[r] === 1;
      let exactRow = exact;
      for (let f = 0; f < FIELDS; f++) {
        const s = index[base + 2 * f]!;
        const e = index[base + 2 * f + 1]!;
        if (s === -1) {
          out.writeInt32BE(-1, o);
          o += 4;
          continue;
        }
        const kind = kinds[f]!;
        if (layout[f] !== FieldEncoding.TEXT) {
          // A UUID or timestamp read binary (see EventBatch.layout): written from its text.
          const text = binaryText(bytes, s, e, layout[f]!);
          if (kind !== Kind.Timestamp) putText(text, 0);
          else o = putMicros(out, o, timestampMicros(Buffer.from(text), 0, text.length), steps[f]);
          continue;
        }
        if (kind === Kind.Text) {
          if (exact) {
            putText(textForPostgres(bytes.toString('utf8', s, e)), 0);
            continue;
          }
          out.writeInt32BE(e - s, o);
          o = copyBytes(bytes, s, e, out, o + 4);
        } else if (kind === Kind.Json || kind === Kind.Jsonb) {
          const prefix = kind === Kind.Jsonb ? 1 : 0;
          if (exact || verbatim.get(f)![r] !== 1 || tooDeep(bytes, s, e)) {
            if (s === e) {
              out.writeInt32BE(NULL_JSON.length + prefix, o);
              if (prefix) out[o + 4] = 1;
              o = copyBytes(NULL_JSON, 0, NULL_JSON.length, out, o + 4 + prefix);
            } else {
              exactRow = true;
              putText(jsonForPostgres(bytes.toString('utf8', s, e)), prefix);
            }
            continue;
          }
          out.writeInt32BE(e - s + prefix, o);
          if (prefix) out[o + 4] = 1;
          o = copyBytes(bytes, s, e, out, o + 4 + prefix);
        } else if (kind === Kind.Timestamp) {
          o = putTimestamp(out, o, bytes, s, e, steps[f]);
        } else if (kind === Kind.Int8) {
          // Little-endian in the batch, big-endian on the wire.
          out.writeInt32BE(8, o);
          for (let i = 0; i < 8; i++) out[o + 4 + i] = bytes[s + 7 - i]!;
          o += 12;
        } else {
          // An int4 column: the run checked the team's id fits.
          out.writeInt32BE(4, o);
          out.writeInt32BE(bytes.readInt32LE(s), o + 4);
          o += 8;
        }
      }
      if (exactRow) this.exactRows++;
    }
    return out.subarray(0, o);
  }
}

function kindOf(encoding: ColumnEncoding, f: number): Kind {
  const json = JSON_FIELDS.has(f);
  switch (encoding) {
    case 'text':
      return json ? Kind.Json : Kind.Text;
    case 'jsonb':
      return Kind.Jsonb;
    case 'int8':
      return Kind.Int8;
    case 'int4':
      return Kind.Int4;
    default:
      return Kind.Timestamp;
  }
}

/** The microseconds a field's timestamps are cut to: 10^(6 - p) for `timestamp(p)`, else 1. */
function timestampStep(encoding: ColumnEncoding): number {
  const digits = /^timestamp\((\d)\)$/.exec(encoding)?.[1];
  return digits === undefined ? 1 : 10 ** (6 - Number(digits));
}

/** `source[s, e)` into `out` at `o`; answers where it ends. */
function copyBytes(source: Uint8Array, s: number, e: number, out: Buffer, o: number): number {
  if (e - s < SHORT_FIELD) {
    for (let i = s; i < e; i++) out[o++] = source[i]!;
    return o;
  }
  out.set(source.subarray(s, e), o);
  return o + e - s;
}

/**
 * The ClickHouse timestamp `b[s, e)` as a binary COPY timestamptz value at
 * `o`, cut down to a multiple of `step` microseconds; answers where it ends.
 */
export function putTimestamp(out: Buffer, o: number, b: Uint8Array, s: number, e: number, step = 1): number {
  return putMicros(out, o, unixMicros(b, s, e), step);
}

/** Unix microseconds `unix`, cut down to a multiple of `step`, as a binary COPY timestamptz value at `o`; answers where it ends. */
function putMicros(out: Buffer, o: number, unix: number, step = 1): number {
  const micros = (step === 1 ? unix : unix - (((unix % step) + step) % step)) - PG_EPOCH_MICROS;
  const high = Math.floor(micros / TWO_32);
  out.writeInt32BE(8, o);
  out.writeInt32BE(high, o + 4);
  out.writeUInt32BE(micros - high * TWO_32, o + 8);
  return o + 12;
}

/** ClickHouse's `0000-00-00 00:00:00` (a zero DateTime on 18.16) is the Unix epoch. */
function unixMicros(b: Uint8Array, s: number, e: number): number {
  if (b[s + 5] === 0x30 && b[s + 6] === 0x30 && b[s] === 0x30 && b[s + 1] === 0x30) return 0;
  return timestampMicros(b, s, e);
}

/**
 * Per row, 1 when a value must take the exact path: a text field with a NUL
 * byte or invalid UTF-8, or an escape JSONB may refuse anywhere in the row
 * (found with one search of the batch's bytes per escape; a valid surrogate
 * pair takes the exact path too, which keeps it).
 */
function riskyRows(batch: EventBatch): Uint8Array {
  const { bytes, index, count } = batch;
  const risky = new Uint8Array(count);
  const utf8 = batch.utf8(TEXT_FIELDS);
  for (let r = 0; r < count; r++) {
    for (const f of TEXT_FIELDS) {
      const s = index[r * SLOTS + 2 * f]!;
      const e = index[r * SLOTS + 2 * f + 1]!;
      if (s === e || s === -1) continue;
      const nul = bytes.indexOf(0, s);
      if ((nul !== -1 && nul < e) || (!utf8 && !isUtf8(bytes.subarray(s, e)))) {
        risky[r] = 1;
        break;
      }
    }
  }
  const end = index[(count - 1) * SLOTS + 2 * (FIELDS - 1) + 1]!;
  const rows = bytes.subarray(0, end);
  for (const needle of RISKY_ESCAPES) {
    for (let at = rows.indexOf(needle); at !== -1; at = rows.indexOf(needle, at + 1)) {
      risky[rowAt(index, count, at)] = 1;
    }
  }
  return risky;
}

/** The row whose bytes hold offset `at` (rows are laid out in order). */
function rowAt(index: Int32Array, count: number, at: number): number {
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (index[mid * SLOTS]! <= at) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
