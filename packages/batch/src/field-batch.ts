import { isoTimestamp, jsonColumn, type RecordColumn, type ValueType } from '@bx/core';
import * as native from '@bx/native';
import type { BatchFormat, RecordBatch } from './batch-format';
import { grown, sliceRows, writeRecordLines } from './record-lines';

/** A value of a row given to `FieldBatch.fromValues` (tests, fixtures): text or its bytes, a number, a bigint, a boolean or null. */
export type FieldValue = string | Uint8Array | number | bigint | boolean | null;

const EIGHT_BYTES: ReadonlySet<ValueType> = new Set(['int64', 'uint64', 'boolean']);
const TWO_32 = 0x1_0000_0000;
/** native.writeColumns's kind of each value type. */
const KIND: Readonly<Record<ValueType, number>> = {
  string: 0,
  uuid: 0,
  json: 1,
  timestamp: 2,
  int64: 3,
  uint64: 4,
  boolean: 5,
};
/** Bytes a record needs beyond its keys and values (the C writer assumes the same). */
const ROW_OVERHEAD = 256;

/** What the record writers need of a model's columns, made once per format. */
interface RecordLayout {
  /** `{"name":` for the first column, `,"name":` after. */
  keys: readonly string[];
  /** The keys as UTF-8, one after the other, and where each ends. */
  keyBytes: Buffer;
  keyEnds: Int32Array;
  kinds: Uint8Array;
}

/**
 * The format of a model whose records are written from its columns' types
 * (any model but events, which has its own writer: EventBatch). Made once
 * per model.
 */
export function columnFormat(columns: readonly RecordColumn[]): BatchFormat {
  const keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`);
  const keyBytes = Buffer.from(keys.join(''));
  const keyEnds = new Int32Array(keys.length);
  keys.reduce((end, key, c) => (keyEnds[c] = end + Buffer.byteLength(key)), 0);
  const layout: RecordLayout = { keys, keyBytes, keyEnds, kinds: Uint8Array.from(columns, (c) => KIND[c.type]) };
  const format: BatchFormat = {
    columns,
    slots: columns.length * 2,
    batch: (bytes, index, count) => new FieldBatch(format, layout, bytes, index, count),
  };
  return format;
}

/**
 * A batch of any model's rows (see RecordBatch), its records written from
 * the columns' types in C (packages/native/src/records.c, one call per
 * batch): JSON strings for text, JSON text copied when it is verbatim,
 * 64-bit integers exact, booleans, timestamps ISO 8601 with `+00:00`. A row
 * the C writer leaves (text that is not UTF-8, JSON to normalise) is
 * written here value by value, the same bytes for the rest: bytes that are
 * not UTF-8 become U+FFFD (as in events records), JSON is normalised as
 * `jsonColumn` does.
 */
export class FieldBatch implements RecordBatch {
  /** Rows the last records() wrote value by value in TypeScript: for tests and profiling. */
  exactRows = 0;

  constructor(
    readonly format: BatchFormat,
    private readonly layout: RecordLayout,
    readonly bytes: Buffer,
    readonly index: Int32Array,
    readonly count: number,
  ) {}

  /** A batch of rows given as values by column name (tests and fixtures). */
  static fromValues(format: BatchFormat, rows: ReadonlyArray<Readonly<Record<string, FieldValue>>>): RecordBatch {
    const parts: Buffer[] = [];
    const index = new Int32Array(rows.length * format.slots);
    let at = 0;
    rows.forEach((row, r) => {
      format.columns.forEach((column, c) => {
        const value = row[column.name] ?? null;
        const slot = r * format.slots + 2 * c;
        if (value === null) {
          index[slot] = index[slot + 1] = -1;
          return;
        }
        let part: Buffer;
        if (EIGHT_BYTES.has(column.type)) {
          part = Buffer.alloc(8);
          const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value as number | bigint | string);
          if (column.type === 'uint64') part.writeBigUInt64LE(n);
          else part.writeBigInt64LE(n);
        } else {
          part = value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value));
        }
        index[slot] = at;
        index[slot + 1] = at + part.length;
        parts.push(part);
        at += part.length;
      });
    });
    return format.batch(Buffer.concat(parts, at), index, rows.length);
  }

  slice(from: number, to: number): FieldBatch {
    const { bytes, index } = sliceRows(this.bytes, this.index, this.format.slots, from, to);
    return new FieldBatch(this.format, this.layout, bytes, index, to - from);
  }

  start(r: number, c: number): number {
    return this.index[r * this.format.slots + 2 * c]!;
  }

  end(r: number, c: number): number {
    return this.index[r * this.format.slots + 2 * c + 1]!;
  }

  records(from = 0): Buffer {
    const size =
      Math.ceil(this.bytes.length * 1.25) + (this.count - from) * (this.layout.keyBytes.length + 16) + 64 * 1024;
    const initial: Buffer = Buffer.allocUnsafeSlow(size);
    const { out, length } = this.writeLines(initial, from, (buf, used, n) => grown(buf, used, n));
    return out.subarray(0, length);
  }

  recordsInto(target: Uint8Array, from = 0): { next: number; bytes: number } {
    const { next, length } = this.writeLines(target, from, (buf, used, n) => (used + n <= buf.length ? buf : null));
    return { next, bytes: length };
  }

  utf8(columns: Uint8Array): boolean {
    return native.utf8Fields(this.bytes, this.index, this.count, this.format.slots, columns);
  }

  verbatimJson(c: number): Uint8Array {
    const out = new Uint8Array(this.count);
    native.verbatimJson(this.bytes, this.index, this.count, this.format.slots, c, out);
    return out;
  }

  /** Writes the records of rows `from`.. into `out` (see writeRecordLines). */
  private writeLines<B extends Uint8Array>(
    out: B,
    from: number,
    room: (out: B, used: number, n: number) => B | null,
  ): { out: B; length: number; next: number } {
    const { bytes, index, count, layout } = this;
    const slots = this.format.slots;
    const written = writeRecordLines(
      {
        write: (buf, state) =>
          native.writeColumns(bytes, index, count, slots, layout.kinds, layout.keyBytes, layout.keyEnds, buf, state),
        exactLine: (r) => this.line(r),
        // Room for the row even if every value byte must be escaped (\u00XX: 6 bytes).
        room: (r) => ROW_OVERHEAD + layout.keyBytes.length + 6 * this.rowBytes(r),
      },
      out,
      from,
      count,
      room,
    );
    this.exactRows = written.exactRows;
    return written;
  }

  /** Row `r`'s record, value by value (the exact path, and the reference the C writer is held to). */
  line(r: number): string {
    const { columns } = this.format;
    let line = '';
    for (let c = 0; c < columns.length; c++) line += this.layout.keys[c]! + this.json(r, c, columns[c]!.type);
    return line + '}\n';
  }

  private rowBytes(r: number): number {
    let n = 0;
    for (let c = 0; c < this.format.columns.length; c++) n += Math.max(0, this.end(r, c) - this.start(r, c));
    return n;
  }

  /** Row `r`'s value of column `c` as JSON text. */
  private json(r: number, c: number, type: ValueType): string {
    const s = this.start(r, c);
    if (s === -1) return 'null';
    const b = this.bytes;
    switch (type) {
      case 'string':
      case 'uuid':
        return JSON.stringify(b.toString('utf8', s, this.end(r, c)));
      case 'json':
        return jsonColumn(b.toString('utf8', s, this.end(r, c)));
      case 'timestamp':
        return JSON.stringify(isoTimestamp(b.toString('latin1', s, this.end(r, c))));
      case 'boolean':
        return b.readUInt32LE(s) !== 0 || b.readUInt32LE(s + 4) !== 0 ? 'true' : 'false';
      case 'int64':
      case 'uint64': {
        const lo = b.readUInt32LE(s);
        const hi = type === 'int64' ? b.readInt32LE(s + 4) : b.readUInt32LE(s + 4);
        // Exact as a double below 2^53; beyond, through BigInt.
        if (hi >= -0x20_0000 && hi < 0x20_0000) return String(hi * TWO_32 + lo);
        return (type === 'int64' ? b.readBigInt64LE(s) : b.readBigUInt64LE(s)).toString();
      }
    }
  }
}
