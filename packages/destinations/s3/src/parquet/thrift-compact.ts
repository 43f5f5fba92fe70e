/**
 * Thrift's compact protocol, write side, as much of it as Parquet's metadata
 * needs (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
 * Structs are written field by field in ascending id order; a struct written
 * on its own (`bytes()`) can be spliced into a list of structs later, which
 * is how the footer keeps one small buffer per row group instead of objects.
 */

/** Compact type ids. */
export const T = {
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I32: 5,
  I64: 6,
  BINARY: 8,
  LIST: 9,
  STRUCT: 12,
} as const;

export class CompactWriter {
  private buf = Buffer.allocUnsafe(256);
  private o = 0;
  /** The last field id written, per open struct (innermost last). */
  private readonly lastField: number[] = [0];

  get length(): number {
    return this.o;
  }

  /** The bytes written so far (a copy). */
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.o));
  }

  i32(id: number, value: number): this {
    this.header(id, T.I32);
    return this.varint(zigzag(value));
  }

  /** An i64 given as a number: exact up to 2^52, which file offsets and counts never reach. */
  i64(id: number, value: number): this {
    this.header(id, T.I64);
    return this.varint(zigzag(value));
  }

  byte(id: number, value: number): this {
    this.header(id, T.BYTE);
    this.ensure(1);
    this.buf[this.o++] = value & 0xff;
    return this;
  }

  bool(id: number, value: boolean): this {
    this.header(id, value ? T.TRUE : T.FALSE);
    return this;
  }

  binary(id: number, value: Uint8Array | string): this {
    this.header(id, T.BINARY);
    return this.rawBinary(value);
  }

  /** A field holding a struct; `body` writes its fields. */
  struct(id: number, body: (w: this) => void = () => {}): this {
    this.header(id, T.STRUCT);
    return this.structBody(body);
  }

  /** A list of i32 (enums in Parquet). */
  i32List(id: number, values: readonly number[]): this {
    this.listHeader(id, T.I32, values.length);
    for (const v of values) this.varint(zigzag(v));
    return this;
  }

  binaryList(id: number, values: ReadonlyArray<Uint8Array | string>): this {
    this.listHeader(id, T.BINARY, values.length);
    for (const v of values) this.rawBinary(v);
    return this;
  }

  /** A list of structs, each written by `body`. */
  structList<V>(id: number, values: readonly V[], body: (w: this, value: V) => void): this {
    this.listHeader(id, T.STRUCT, values.length);
    for (const v of values) this.structBody((w) => body(w, v));
    return this;
  }

  /** A list of structs already written on their own (`CompactWriter.bytes()` of a top-level struct each). */
  writtenStructList(id: number, structs: readonly Uint8Array[]): this {
    this.listHeader(id, T.STRUCT, structs.length);
    for (const s of structs) this.raw(s);
    return this;
  }

  /** Ends the top-level struct: its stop byte. */
  end(): this {
    this.ensure(1);
    this.buf[this.o++] = 0;
    return this;
  }

  private structBody(body: (w: this) => void): this {
    this.lastField.push(0);
    body(this);
    this.lastField.pop();
    return this.end();
  }

  private header(id: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1]!;
    const delta = id - last;
    if (delta <= 0) throw new Error(`thrift field ${id} written after ${last}`);
    this.lastField[this.lastField.length - 1] = id;
    if (delta <= 15) {
      this.ensure(1);
      this.buf[this.o++] = (delta << 4) | type;
    } else {
      this.ensure(1);
      this.buf[this.o++] = type;
      this.varint(zigzag(id));
    }
  }

  private listHeader(id: number, elementType: number, size: number): void {
    this.header(id, T.LIST);
    this.ensure(1);
    if (size < 15) {
      this.buf[this.o++] = (size << 4) | elementType;
    } else {
      this.buf[this.o++] = 0xf0 | elementType;
      this.varint(size);
    }
  }

  private rawBinary(value: Uint8Array | string): this {
    const bytes = typeof value === 'string' ? Buffer.from(value) : value;
    this.varint(bytes.length);
    return this.raw(bytes);
  }

  private raw(bytes: Uint8Array): this {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.o);
    this.o += bytes.length;
    return this;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  private varint(n: number): this {
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.o++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.o++] = n;
    return this;
  }

  private ensure(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(grown, 0, 0, this.o);
    this.buf = grown;
  }
}

function zigzag(n: number): number {
  if (!Number.isSafeInteger(n)) throw new Error(`thrift integer out of range: ${n}`);
  return n >= 0 ? n * 2 : -n * 2 - 1;
}
