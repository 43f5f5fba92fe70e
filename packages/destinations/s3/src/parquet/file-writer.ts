import { CompactWriter } from './thrift-compact';

/**
 * A Parquet file writer for a flat schema of BYTE_ARRAY, INT64 and BOOLEAN columns
 * (https://parquet.apache.org/docs/file-format/), streamed:
 *
 * - values go straight into the open page of their column (PLAIN encoding;
 *   definition levels RLE for optional columns); a page is handed to the
 *   codec when it holds `PAGE_BYTES` (zstd compresses on its thread while
 *   the next values are written), and each compressed page is copied at
 *   once into its column's chunk buffer, reused from row group to row group
 *   (compressed pages held as buffers until the row group ended lived long
 *   enough for the old generation, and made it collect every few MB);
 * - a full row group is handed to the sink as one chunk, and its footer entry
 *   is serialised at once: a few hundred bytes a row group stay until the
 *   footer, not objects, so memory does not grow with the file.
 *
 * Why not a library: hyparquet-writer (used before) kept every row group's
 * metadata as objects until the footer (320 MB peak RSS at 10M rows against
 * 270–290 MB at 2M) and spent most of the Parquet thread's time per value.
 */

/** A page's values are compressed once they reach this many bytes. */
const PAGE_BYTES = 1 << 20;
/** A row group goes to the sink in slices of at most this many bytes. */
const SINK_BYTES = 1 << 20;

/**
 * Compresses a page, now or later (e.g. on a thread). The page's buffer is
 * reused as soon as the call returns: a codec that answers later copies it.
 */
export type Codec = (raw: Buffer) => Uint8Array | Promise<Uint8Array>;

/** Parquet's enum values (parquet.thrift). */
export const ParquetType = { BOOLEAN: 0, INT64: 2, BYTE_ARRAY: 6 } as const;
export const ConvertedType = { UTF8: 0, TIMESTAMP_MICROS: 10, UINT_64: 14, INT_64: 18, JSON: 19 } as const;
export const CodecId = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, BROTLI: 4, ZSTD: 6 } as const;
const Encoding = { PLAIN: 0, RLE: 3 } as const;
const DATA_PAGE = 0;
const REQUIRED = 0;
const OPTIONAL = 1;

export interface ColumnSpec {
  name: string;
  type: (typeof ParquetType)[keyof typeof ParquetType];
  optional: boolean;
  /** None for BOOLEAN. */
  converted?: (typeof ConvertedType)[keyof typeof ConvertedType];
  /** Writes the LogicalType union's field; none for BOOLEAN. */
  logical?: (w: CompactWriter) => void;
  /** Min/max statistics (INT64 columns). */
  stats: boolean;
}

const MAGIC = Buffer.from('PAR1');
/**
 * Room an optional column's page keeps before its values for the definition
 * levels (and their 4-byte length), written there when the page ends; more
 * levels than fit (thousands of alternating nulls) are joined with a copy.
 */
const LEVELS_ROOM = 4096;
/** A data page's header, at most (thrift compact: a few small integers). */
const PAGE_HEADER_BYTES = 64;
const newPage = () => Buffer.allocUnsafe(LEVELS_ROOM + PAGE_BYTES + 4096);

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
  private minHi = 0;
  private minLo = 0;
  private maxHi = 0;
  private maxLo = 0;
  private hasMinMax = false;

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
      if (!this.hasMinMax) {
        this.minHi = this.maxHi = hi;
        this.minLo = this.maxLo = lo;
        this.hasMinMax = true;
      } else {
        if (hi < this.minHi || (hi === this.minHi && lo < this.minLo)) {
          this.minHi = hi;
          this.minLo = lo;
        }
        if (hi > this.maxHi || (hi === this.maxHi && lo > this.maxLo)) {
          this.maxHi = hi;
          this.maxLo = lo;
        }
      }
    }
    this.level(1);
  }

  /** An INT64 value given as a safe integer. */
  int64Number(v: number): void {
    const hi = Math.floor(v / 0x1_0000_0000);
    this.int64(hi, v - hi * 0x1_0000_0000);
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
    const place = (bytes: Uint8Array) => {
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
    if (this.page.length > LEVELS_ROOM + PAGE_BYTES + 4096) this.page = newPage(); // after a value larger than a page
    this.o = this.base;
    this.pageValues = 0;
    this.bits = 0;
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
          if (this.hasMinMax)
            st.binary(5, int64Bytes(this.maxHi, this.maxLo)).binary(6, int64Bytes(this.minHi, this.minLo));
        });
    });
    const chunk = { bytes: this.chunk.subarray(0, this.chunkBytes), raw: this.rawBytes };
    this.chunkBytes = 0;
    this.values = this.nulls = this.rawBytes = this.storedBytes = 0;
    this.hasMinMax = false;
    return chunk;
  }

  /** Copies `bytes` to the end of the column chunk. */
  private append(bytes: Uint8Array): void {
    const end = this.chunkBytes + bytes.length;
    if (end > this.chunk.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(end, this.chunk.length * 2, 64 * 1024));
      this.chunk.copy(bigger, 0, 0, this.chunkBytes);
      this.chunk = bigger;
    }
    this.chunk.set(bytes, this.chunkBytes);
    this.chunkBytes = end;
  }

  private level(defined: number): void {
    if (this.spec.optional) {
      if (this.pageValues === this.levels.length) {
        const grown = new Uint8Array(this.levels.length * 2);
        grown.set(this.levels);
        this.levels = grown;
      }
      this.levels[this.pageValues] = defined;
    }
    this.pageValues++;
    if (this.o - this.base >= PAGE_BYTES) this.flushPage();
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

function int64Bytes(hi: number, lo: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32LE(lo, 0);
  b.writeInt32LE(hi, 4);
  return b;
}

/**
 * The file: row groups as they fill, then the footer. `sink` takes each
 * chunk of the file in order; the writer waits for it (back-pressure), and
 * reuses the chunk's memory once its promise settles: a sink that keeps
 * bytes for later copies them.
 */
export class ParquetFileWriter {
  readonly columns: ColumnWriter[];
  /** Bytes handed to the sink. */
  written = 0;
  /** Rows in the open row group, and in the file before it. */
  rows = 0;
  private fileRows = 0;
  /** One serialised RowGroup struct per row group written. */
  private readonly rowGroups: Uint8Array[] = [];

  constructor(
    private readonly schema: readonly ColumnSpec[],
    codec: Codec | null,
    codecId: number,
    private readonly sink: (chunk: Buffer) => Promise<void>,
    private readonly createdBy: string,
  ) {
    this.columns = schema.map((spec) => new ColumnWriter(spec, codec, codecId));
  }

  /** Bytes of the file so far, with the open row group's estimated. */
  get estimatedBytes(): number {
    return (this.written === 0 ? MAGIC.length : this.written) + this.rowGroupBytes;
  }

  /** Bytes the open row group holds, estimated as it will be written. */
  get rowGroupBytes(): number {
    let n = 0;
    for (const c of this.columns) n += c.estimatedBytes;
    return n;
  }

  /** Raw bytes of pages being compressed. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.columns) n += c.inFlight;
    return n;
  }

  /** Waits for every page being compressed. */
  async settle(): Promise<void> {
    for (const c of this.columns) await c.settle();
  }

  /**
   * At least the bytes of the file if it ended now (its footer aside):
   * what a file size limit measures. Tight after `settlePages()`.
   */
  upperBytes(incompressible: number): number {
    let n = this.written === 0 ? MAGIC.length : this.written;
    for (const c of this.columns) n += c.upperBytes(incompressible);
    return n;
  }

  /** Ends every column's open page and waits for their compression: the row group's size is then known. */
  async settlePages(): Promise<void> {
    for (const c of this.columns) c.flushPage();
    await this.settle();
  }

  /** Writes the open row group (every column must hold `rows` values). */
  async flushRowGroup(): Promise<void> {
    if (this.rows === 0) return;
    for (const c of this.columns) c.flushPage();
    await this.settle();
    const parts: Buffer[] = [];
    if (this.written === 0) parts.push(MAGIC);
    const start = this.written + (this.written === 0 ? MAGIC.length : 0);
    let offset = start;
    let raw = 0;
    const rg = new CompactWriter();
    rg.structList(1, this.columns, (w, column) => {
      const chunk = column.endChunk(offset, w);
      parts.push(chunk.bytes);
      offset += chunk.bytes.length;
      raw += chunk.raw;
    });
    rg.i64(2, raw)
      .i64(3, this.rows)
      .i64(5, start)
      .i64(6, offset - start)
      .end();
    this.rowGroups.push(rg.bytes());
    this.fileRows += this.rows;
    this.rows = 0;
    // To the sink in slices of at most SINK_BYTES, no copies; the sink is done with each when its promise settles.
    for (const part of parts) {
      for (let at = 0; at < part.length; at += SINK_BYTES) {
        const slice = part.subarray(at, Math.min(part.length, at + SINK_BYTES));
        this.written += slice.length;
        await this.sink(slice);
      }
    }
  }

  /** The last row group, then the footer. */
  async finish(): Promise<void> {
    await this.flushRowGroup();
    const meta = new CompactWriter()
      .i32(1, 1)
      .structList(2, [null, ...this.schema], (w, spec) => {
        if (spec === null) {
          w.binary(4, 'schema').i32(5, this.schema.length);
          return;
        }
        w.i32(1, spec.type)
          .i32(3, spec.optional ? OPTIONAL : REQUIRED)
          .binary(4, spec.name);
        if (spec.converted !== undefined) w.i32(6, spec.converted);
        if (spec.logical) w.struct(10, spec.logical);
      })
      .i64(3, this.fileRows)
      .writtenStructList(4, this.rowGroups)
      .binary(6, this.createdBy)
      // Column orders: min/max compare by the logical type (signed for INT64).
      .structList(7, this.schema, (w) => w.struct(1))
      .end()
      .bytes();
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(meta.length);
    const chunk = Buffer.concat([...(this.written === 0 ? [MAGIC] : []), meta, length, MAGIC]);
    this.written += chunk.length;
    await this.sink(chunk);
  }
}
