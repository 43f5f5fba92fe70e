import { isUtf8 } from 'node:buffer';
import { binaryText, FieldEncoding, grown, type RecordBatch } from '@bx/batch';
import type { ValueType } from '@bx/core';
import { putTimestamp } from './copy-binary';
import { jsonForPostgres, textForPostgres, tooDeep } from './hostile-values';

const NULL_JSON = Buffer.from('null');
/** An escape JSONB refuses (`\u0000`) or may refuse (a surrogate: refused when lone). */
const RISKY_ESCAPE = /\\u(0000|d[89a-f])/i;
const BACKSLASH_U = Buffer.from('\\u');

/**
 * Writes a batch of any model's rows (FieldBatch: values in their column
 * types' wire form) as binary COPY rows for a table of MODEL_COLUMN_TYPES:
 * text and JSON the source's own bytes, timestamps microseconds, integers
 * big-endian, uint64 as numeric, booleans one byte. A value PostgreSQL
 * refuses (hostile-values.ts) or JSON to normalise takes the exact path.
 * Answers the rows and how many took the exact path.
 */
export function encodeModelRows(batch: RecordBatch): { data: Buffer; exactRows: number } {
  const { bytes, count } = batch;
  const types: ValueType[] = batch.format.columns.map((c) => c.type);
  const verbatim = types.map((t, c) => (t === 'json' ? batch.verbatimJson(c) : null));
  const layout = batch.format.layout;
  let out: Buffer = Buffer.allocUnsafe(bytes.length + count * types.length * 16 + 64);
  let o = 0;
  const put = (value: Uint8Array, prefix: number) => {
    out = grown(out, o, value.length + 5);
    out.writeInt32BE(value.length + prefix, o);
    if (prefix) out[o + 4] = 1; // the JSONB version
    o += 4 + prefix;
    out.set(value, o);
    o += value.length;
  };
  let exactRows = 0;
  for (let r = 0; r < count; r++) {
    out = grown(out, o, 2);
    out.writeInt16BE(types.length, o);
    o += 2;
    let exact = false;
    for (let c = 0; c < types.length; c++) {
      const s = batch.start(r, c);
      const e = batch.end(r, c);
      out = grown(out, o, 24);
      if (s === -1) {
        out.writeInt32BE(-1, o);
        o += 4;
        continue;
      }
      if (layout && layout[c] !== FieldEncoding.TEXT) {
        // A UUID or timestamp read binary (see BatchFormat.layout): written as its text would be.
        const text = Buffer.from(binaryText(bytes, s, e, layout[c]!));
        if (types[c] === 'timestamp') o = putTimestamp(out, o, text, 0, text.length);
        else put(text, 0);
        continue;
      }
      const value = bytes.subarray(s, e);
      switch (types[c]!) {
        case 'string':
        case 'uuid':
          if (value.includes(0) || !isUtf8(value)) {
            exact = true;
            put(Buffer.from(textForPostgres(value.toString('utf8'))), 0);
          } else put(value, 0);
          break;
        case 'json':
          if (s === e) put(NULL_JSON, 1);
          else if (verbatim[c]![r] === 1 && !riskyJson(value) && !tooDeep(bytes, s, e)) put(value, 1);
          else {
            exact = true;
            put(Buffer.from(jsonForPostgres(value.toString('utf8'))), 1);
          }
          break;
        case 'timestamp':
          o = putTimestamp(out, o, bytes, s, e);
          break;
        case 'int64':
          // Little-endian in the batch, big-endian on the wire.
          out.writeInt32BE(8, o);
          for (let i = 0; i < 8; i++) out[o + 4 + i] = bytes[s + 7 - i]!;
          o += 12;
          break;
        case 'uint64':
          o = putNumeric(out, o, bytes.readBigUInt64LE(s));
          break;
        case 'boolean':
          out.writeInt32BE(1, o);
          out[o + 4] = bytes.readBigUInt64LE(s) === 0n ? 0 : 1;
          o += 5;
          break;
      }
    }
    if (exact) exactRows++;
  }
  return { data: out.subarray(0, o), exactRows };
}

/** Whether JSON text holds an escape JSONB may refuse. */
function riskyJson(value: Buffer): boolean {
  return value.includes(BACKSLASH_U) && RISKY_ESCAPE.test(value.toString('utf8'));
}

/**
 * A non-negative integer as PostgreSQL's binary numeric: digit count,
 * weight, sign, display scale, then base-10,000 digits, most significant
 * first, trailing zero digits left out. At most 24 bytes.
 */
export function putNumeric(out: Buffer, o: number, value: bigint): number {
  const digits: number[] = [];
  for (let v = value; v > 0n; v /= 10_000n) digits.unshift(Number(v % 10_000n));
  const weight = digits.length - 1;
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  out.writeInt32BE(8 + 2 * digits.length, o);
  out.writeInt16BE(digits.length, o + 4);
  out.writeInt16BE(Math.max(weight, 0), o + 6);
  out.writeUInt16BE(0, o + 8); // positive
  out.writeInt16BE(0, o + 10); // scale 0
  o += 12;
  for (const d of digits) {
    out.writeInt16BE(d, o);
    o += 2;
  }
  return o;
}
