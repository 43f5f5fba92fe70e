import { isoTimestamp, jsonColumn, type RecordColumn, type ValueType } from '@bx/core';
import * as native from '@bx/native';
import type { BatchFormat, RecordBatch } from './batch-format';

/** A value of a row given to `FieldBatch.fromValues` (tests, fixtures): text, a number, a bigint, a boolean or null. */
export type FieldValue = string | number | bigint | boolean | null;

const EIGHT_BYTES: ReadonlySet<ValueType> = new Set(['int64', 'uint64', 'boolean']);
const TWO_32 = 0x1_0000_0000;

/**
 * The format of a model whose records are written from its columns' types
 * (any model but events, which has its own, in C: EventBatch). Made once
 * per model.
 */
export function columnFormat(columns: readonly RecordColumn[]): BatchFormat {
  const keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`);
  const format: BatchFormat = {
    columns,
    slots: columns.length * 2,
    batch: (bytes, index, count) => new FieldBatch(format, keys, bytes, index, count),
  };
  return format;
}

/**
 * A batch of any model's rows (see RecordBatch), its records written in
 * TypeScript value by value from the columns' types: JSON strings for text
 * (bytes that are not UTF-8 become U+FFFD, as in events records), JSON text
 * copied when it is verbatim (else normalised, as `jsonColumn` does),
 * 64-bit integers exact, timestamps ISO 8601 with `+00:00`.
 */
export class FieldBatch implements RecordBatch {
  /** The records of the batch, once written: recordsInto that did not fit leaves them to records(). */
  private text: string | null = null;

  constructor(
    readonly format: BatchFormat,
    private readonly keys: readonly string[],
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
          const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
          if (column.type === 'uint64') part.writeBigUInt64LE(n);
          else part.writeBigInt64LE(n);
        } else {
          part = Buffer.from(String(value));
        }
        index[slot] = at;
        index[slot + 1] = at + part.length;
        parts.push(part);
        at += part.length;
      });
    });
    return format.batch(Buffer.concat(parts, at), index, rows.length);
  }

  start(r: number, c: number): number {
    return this.index[r * this.format.slots + 2 * c]!;
  }

  end(r: number, c: number): number {
    return this.index[r * this.format.slots + 2 * c + 1]!;
  }

  records(): Buffer {
    return Buffer.from(this.lines());
  }

  recordsInto(target: Uint8Array): number {
    const text = this.lines();
    const length = Buffer.byteLength(text);
    if (length > target.length) return -1;
    return Buffer.from(target.buffer, target.byteOffset, target.length).write(text, 0, length, 'utf8');
  }

  utf8(columns: Uint8Array): boolean {
    return native.utf8Fields(this.bytes, this.index, this.count, this.format.slots, columns);
  }

  verbatimJson(c: number): Uint8Array {
    const out = new Uint8Array(this.count);
    native.verbatimJson(this.bytes, this.index, this.count, this.format.slots, c, out);
    return out;
  }

  /** The records as one string. */
  private lines(): string {
    if (this.text !== null) return this.text;
    const { columns } = this.format;
    const parts = new Array<string>(this.count);
    for (let r = 0; r < this.count; r++) {
      let line = '';
      for (let c = 0; c < columns.length; c++) line += this.keys[c]! + this.json(r, c, columns[c]!.type);
      parts[r] = line + '}\n';
    }
    this.text = parts.join('');
    return this.text;
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
