/** One column of a Parquet row group being written: its open page and its chunk of compressed pages (see file-writer.ts). */
import * as native from '@bx/native';
import type { ColumnSpec } from './file-writer';
import { CompactWriter } from './thrift-compact';
import { giveColumnBuffers, takeChunk, takePage } from './column-buffers';

/** A page's values are compressed once they reach this many bytes. */
const PAGE_BYTES = 1 << 20;

/**
 * Compresses a page, now or later (e.g. on a thread). The page's buffer is
 * reused as soon as the call returns: a codec that answers later copies it.
 */
export type Codec = (raw: Buffer) => Uint8Array | Promise<Uint8Array | Lent>;

/** Compressed bytes lent by a codec (a slot of memory shared with its thread): released once copied. */
export interface Lent {
  bytes: Uint8Array;
  release(): void;
}

/** How the C writer writes a field (native.parquetColumn's `kind`). */
export const ParquetKind = { TEXT: 0, JSON: 1, INT64: 2, TIMESTAMP: 3 } as const;
export type ParquetKind = (typeof ParquetKind)[keyof typeof ParquetKind];
/** Why native.parquetColumn stopped. */
const C_DONE = 0;
const C_PAGE_FULL = 1;
const C_NEEDS_ROOM = 2;

const Encoding = { PLAIN: 0, RLE: 3 } as const;
const DATA_PAGE = 0;

/**
 * Room an optional column's page keeps before its values for the definition
 * levels (and their 4-byte length), written there when the page ends; more
 * levels than fit (thousands of alternating nulls) are joined with a copy.
 */
const LEVELS_ROOM = 4096;
/** A data page's header, at most (thrift compact: a few small integers). */
const PAGE_HEADER_BYTES = 64;
/** A page buffer: the levels' room, a page of values and the value that passes PAGE_BYTES. */
const PAGE_BUFFER_BYTES = LEVELS_ROOM + PAGE_BYTES + 4096;
const newPage = () => takePage(PAGE_BUFFER_BYTES);

/** One column of the open row group: its open page and its chunk of compressed pages. */
export class ColumnWriter {
  private page = newPage();
  /** Where the open page's values start (after the levels' room) and end. */
  private readonly base: number;
  private o: number;
  /** Definition levels of the open page, a byte each (optional columns). */
  private levels: Uint8Array;
  private pageValues = 0;
  /** BOOLEAN values in the open page: PLAIN packs them 8 a byte. */
  private bits = 0;
  /** The column's chunk of the open row group: each page's header and stored bytes, in order. */
  private chunk: Buffer = Buffer.allocUnsafeSlow(0);
  private chunkBytes = 0;
  /** Pages being compressed, and their raw bytes. */
  private compressing: Array<Promise<void>> = [];
  /** The last page's placement: pages are placed in order, though a codec on a pool may answer out of order. */
  private placing: Promise<void> = Promise.resolve();
  inFlight = 0;
  private failure: unknown = null;
  /** Of the row group so far: values (nulls included), nulls, page bytes before and after compression. */
  private values = 0;
  private nulls = 0;
  private rawBytes = 0;
  private storedBytes = 0;
  /** Compressed body bytes per raw byte, over the file so far: estimates the open page. */
  private ratio = 1;
  private fileRaw = 0;
  private fileStored = 0;
  /** Min, max and whether any, of the row group's INT64 values. */
  private readonly stats = new BigInt64Array(3);
  /** The C writer's view of the open page (see writeField). */
  private readonly state = new Float64Array(7);

  constructor(
    readonly spec: ColumnSpec,
    private readonly codec: Codec | null,
    private readonly codecId: number,
  ) {
    this.levels = new Uint8Array(spec.optional ? 1024 : 0);
    this.base = spec.optional ? LEVELS_ROOM : 0;
    this.o = this.base;
  }

  /** Bytes the row group's column will take in the file, estimated for the open page. */
  get estimatedBytes(): number {
    return this.storedBytes + (this.inFlight + this.o - this.base) * this.ratio;
  }

  /**
   * At least the bytes the row group's column will take: pages being
   * compressed and the open page counted as if they did not compress
   * (`incompressible` output bytes per input byte), with a page header and
   * the definition levels each.
   */
  upperBytes(incompressible: number): number {
    const open = this.o - this.base + (this.spec.optional ? this.pageValues / 4 : 0);
    const headers = PAGE_HEADER_BYTES * (1 + this.compressing.length);
    return this.storedBytes + (this.inFlight + open) * incompressible + headers;
  }

  /** A BYTE_ARRAY value: `b[s, e)`. */
  bytes(b: Uint8Array, s: number, e: number): void {
    const n = e - s;
    this.room(4 + n);
    const p = this.page;
    let o = this.o;
    p[o++] = n & 0xff;
    p[o++] = (n >>> 8) & 0xff;
    p[o++] = (n >>> 16) & 0xff;
    p[o++] = n >>> 24;
    if (n < 64) {
      for (let i = s; i < e; i++) p[o++] = b[i]!;
    } else {
      p.set(b.subarray(s, e), o);
      o += n;
    }
    this.o = o;
    this.level(1);
  }

  /** A BYTE_ARRAY value given as text: written as UTF-8. */
  text(value: string): void {
    const n = Buffer.byteLength(value);
    this.room(4 + n);
    this.page.writeUInt32LE(n, this.o);
    this.page.write(value, this.o + 4);
    this.o += 4 + n;
    this.level(1);
  }

  /** An INT64 value as its two 32-bit halves (hi signed, lo unsigned). */
  int64(hi: number, lo: number): void {
    this.room(8);
    const p = this.page;
    p.writeUInt32LE(lo, this.o);
    p.writeInt32LE(hi, this.o + 4);
    this.o += 8;
    if (this.spec.stats) {
      const v = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
      const st = this.stats;
      if (!st[2] || v < st[0]!) st[0] = v;
      if (!st[2] || v > st[1]!) st[1] = v;
      st[2] = 1n;
    }
    this.level(1);
  }

  /** An INT64 value given as a safe integer. */
  int64Number(v: number): void {
    const hi = Math.floor(v / 0x1_0000_0000);
    this.int64(hi, v - hi * 0x1_0000_0000);
  }

  /**
   * Field `field` of rows `from`.. of a batch (`index`: `slots` a row), written
   * by the C writer (native.parquetColumn) as the methods above would write
   * them one by one, pages flushed at the same points: `kind` is how (see
   * ParquetKind). Answers `count` when every row is written, else the row
   * the C writer left to TypeScript (JSON to normalise, a timestamp in
   * another form, a null the column cannot hold).
   */
  writeField(
    batch: { bytes: Uint8Array; index: Int32Array; count: number; layout: Readonly<Uint8Array> },
    slots: number,
    field: number,
    kind: ParquetKind,
    from: number,
  ): number {
    const { bytes, index, count } = batch;
    const encoding = batch.layout[field]!;
    const st = this.state;
    st[0] = from;
    st[1] = this.base;
    st[3] = PAGE_BYTES;
    for (;;) {
      st[2] = this.o;
      st[4] = this.pageValues;
      st[5] = this.nulls;
      const optional = this.spec.optional ? 1 : 0;
      const why = native.parquetColumn(
        bytes,
        index,
        count,
        slots,
        field,
        kind,
        encoding,
        optional,
        this.page,
        this.levels,
        st,
        this.stats,
      );
      this.o = st[2]!;
      this.pageValues = st[4]!;
      this.nulls = st[5]!;
      if (why === C_DONE) return count;
      if (why === C_PAGE_FULL) this.flushPage();
      else if (why === C_NEEDS_ROOM) {
        if (this.spec.optional && this.pageValues === this.levels.length) this.growLevels();
        else this.room(st[6]!);
      } else return st[0]!;
    }
  }

  /** A BOOLEAN value, bit-packed least significant bit first (PLAIN). */
  bool(value: boolean): void {
    const bit = this.bits++ & 7;
    if (bit === 0) {
      this.room(1);
      this.page[this.o++] = 0;
    }
    if (value) this.page[this.o - 1]! |= 1 << bit;
    this.level(1);
  }

  null(): void {
    if (!this.spec.optional) throw new Error(`Parquet column ${this.spec.name} cannot hold null`);
    this.nulls++;
    this.level(0);
  }

  /** Hands the open page to the codec; its bytes take their place in the row group when compressed. */
  flushPage(): void {
    if (this.pageValues === 0) return;
    let body = this.page.subarray(this.base, this.o);
    if (this.spec.optional) {
      const levels = rleLevels(this.levels, this.pageValues);
      if (4 + levels.length <= this.base) {
        const at = this.base - 4 - levels.length;
        this.page.writeUInt32LE(levels.length, at);
        this.page.set(levels, at + 4);
        body = this.page.subarray(at, this.o);
      } else {
        const prefix = Buffer.allocUnsafe(4);
        prefix.writeUInt32LE(levels.length);
        body = Buffer.concat([prefix, levels, body]);
      }
    }
    const values = this.pageValues;
    this.inFlight += body.length;
    const raw = body.length;
    // Uncompressed, the page is placed (copied) at once: its buffer is reused.
    const stored = this.codec ? this.codec(body) : body;
    // Never throws (a failure waits in `failure` for settle()), so a lent frame is always released.
    const place = (compressed: Uint8Array | Lent) => {
      const lent = compressed instanceof Uint8Array ? null : compressed;
      try {
        if (!this.failure) this.placeCompressed(lent ? lent.bytes : (compressed as Uint8Array), raw, values);
      } catch (err) {
        this.failure ??= err;
      } finally {
        lent?.release();
      }
    };
    if (stored instanceof Promise || this.compressing.length > 0) {
      const placed = this.placing
        .then(() => stored)
        .then(place, (err: unknown) => {
          this.failure ??= err;
        });
      this.placing = placed;
      this.compressing.push(placed);
    } else {
      place(stored);
    }
    this.values += values;
    if (this.page.length > PAGE_BUFFER_BYTES) this.page = newPage(); // after a value larger than a page
    this.o = this.base;
    this.pageValues = 0;
    this.bits = 0;
  }

  /** A page's header and compressed bytes, copied to the end of the column chunk. */
  private placeCompressed(bytes: Uint8Array, raw: number, values: number): void {
    const header = new CompactWriter()
      .i32(1, DATA_PAGE)
      .i32(2, raw)
      .i32(3, bytes.length)
      .struct(5, (w) => w.i32(1, values).i32(2, Encoding.PLAIN).i32(3, Encoding.RLE).i32(4, Encoding.RLE))
      .end()
      .bytes();
    this.append(header);
    this.append(bytes);
    this.inFlight -= raw;
    this.rawBytes += header.length + raw;
    this.storedBytes += header.length + bytes.length;
    this.fileRaw += raw;
    this.fileStored += bytes.length;
    this.ratio = this.fileStored / this.fileRaw;
  }

  /** Waits for the pages being compressed. */
  async settle(): Promise<void> {
    const waiting = this.compressing;
    this.compressing = [];
    await Promise.all(waiting);
    if (this.failure) throw this.failure;
  }

  /**
   * Ends the column's chunk of the row group, which starts at `offset` in
   * the file: writes its ColumnChunk struct to `w` and answers its bytes
   * (valid until the column takes its next page) and their size before
   * compression.
   */
  endChunk(offset: number, w: CompactWriter): { bytes: Buffer; raw: number } {
    if (this.compressing.length > 0 || this.pageValues > 0)
      throw new Error('Parquet column chunk ended before its pages');
    const s = this.spec;
    w.i64(2, offset).struct(3, (m) => {
      m.i32(1, s.type)
        .i32List(2, [Encoding.PLAIN, Encoding.RLE])
        .binaryList(3, [s.name])
        .i32(4, this.codecId)
        .i64(5, this.values)
        .i64(6, this.rawBytes)
        .i64(7, this.storedBytes)
        .i64(9, offset)
        .struct(12, (st) => {
          st.i64(3, this.nulls);
          if (s.stats && this.stats[2]) st.binary(5, int64Bytes(this.stats[1]!)).binary(6, int64Bytes(this.stats[0]!));
        });
    });
    const chunk = { bytes: this.chunk.subarray(0, this.chunkBytes), raw: this.rawBytes };
    this.chunkBytes = 0;
    this.values = this.nulls = this.rawBytes = this.storedBytes = 0;
    this.stats.fill(0n);
    return chunk;
  }

  /** The file is written: its page and chunk buffers go to the next file's columns (see column-buffers.ts). */
  release(): void {
    giveColumnBuffers(this.page, PAGE_BUFFER_BYTES, this.chunk);
    this.page = Buffer.allocUnsafe(0);
    this.chunk = Buffer.allocUnsafeSlow(0);
  }

  /** Copies `bytes` to the end of the column chunk. */
  private append(bytes: Uint8Array): void {
    const end = this.chunkBytes + bytes.length;
    if (end > this.chunk.length) {
      const bigger = takeChunk(end) ?? Buffer.allocUnsafeSlow(Math.max(end, this.chunk.length * 2, 64 * 1024));
      this.chunk.copy(bigger, 0, 0, this.chunkBytes);
      this.chunk = bigger;
    }
    this.chunk.set(bytes, this.chunkBytes);
    this.chunkBytes = end;
  }

  private level(defined: number): void {
    if (this.spec.optional) {
      if (this.pageValues === this.levels.length) this.growLevels();
      this.levels[this.pageValues] = defined;
    }
    this.pageValues++;
    if (this.o - this.base >= PAGE_BYTES) this.flushPage();
  }

  private growLevels(): void {
    const grown = new Uint8Array(this.levels.length * 2);
    grown.set(this.levels);
    this.levels = grown;
  }

  /** Room in the open page for `n` more bytes (a value larger than a page gets a page of its own size). */
  private room(n: number): void {
    if (this.o + n <= this.page.length) return;
    const grown = Buffer.allocUnsafe(this.o + n);
    this.page.copy(grown, 0, 0, this.o);
    this.page = grown;
  }
}

/** Definition levels (bit width 1) in the RLE/bit-packing hybrid, as RLE runs. */
function rleLevels(levels: Uint8Array, count: number): Buffer {
  const out: number[] = [];
  let i = 0;
  while (i < count) {
    const v = levels[i]!;
    let j = i + 1;
    while (j < count && levels[j] === v) j++;
    let run = (j - i) * 2;
    while (run >= 0x80) {
      out.push((run % 0x80) | 0x80);
      run = Math.floor(run / 0x80);
    }
    out.push(run, v);
    i = j;
  }
  return Buffer.from(out);
}

function int64Bytes(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64LE(v);
  return b;
}
