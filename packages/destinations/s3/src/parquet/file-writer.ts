import { CompactWriter } from './thrift-compact';
import { ColumnWriter, type Codec } from './column-writer';

export { ColumnWriter, ParquetKind, type Codec } from './column-writer';

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

/** A row group goes to the sink in slices of at most this many bytes. */
const SINK_BYTES = 1 << 20;

/** Parquet's enum values (parquet.thrift). */
export const ParquetType = { BOOLEAN: 0, INT64: 2, BYTE_ARRAY: 6 } as const;
export const ConvertedType = { UTF8: 0, TIMESTAMP_MICROS: 10, UINT_64: 14, INT_64: 18, JSON: 19 } as const;
export const CodecId = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, BROTLI: 4, ZSTD: 6 } as const;
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
  /**
   * Values that repeat little (UUIDs' text): pages compressed with the
   * codec's `sparse` variant where it has one (see PageCodecs).
   */
  sparse?: boolean;
}

/**
 * A codec for pages, and optionally another for the pages of `sparse`
 * columns, whose values an entropy coder compresses about as well without
 * the search for repeats.
 */
export interface PageCodecs {
  pages: Codec;
  sparse?: Codec;
}

const MAGIC = Buffer.from('PAR1');

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
    codecs: PageCodecs | null,
    codecId: number,
    private readonly sink: (chunk: Buffer) => Promise<void>,
    private readonly createdBy: string,
  ) {
    const codecOf = (spec: ColumnSpec) => (codecs && ((spec.sparse && codecs.sparse) || codecs.pages)) ?? null;
    this.columns = schema.map((spec) => new ColumnWriter(spec, codecOf(spec), codecId));
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
    // The sink is done with every row group: the columns' buffers are the next file's.
    for (const c of this.columns) c.release();
  }
}
