import { EVENT_RECORD_COLUMNS, mayHoldSurrogateEscape, type RecordColumn } from '@bx/core';
import {
  binaryText,
  Field as CoreField,
  EventBatch,
  FieldEncoding,
  SLOTS,
  timestampMicros,
  type RecordBatch,
} from '@bx/batch';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { INCOMPRESSIBLE, ZSTD_PARQUET_PAGES, ZSTD_PARQUET_SPARSE_PAGES } from '../object-upload';
import { zstdFrames } from '@bx/zstd';
import { parquetJson, surrogateEscapes, writeColumns } from './column-values';
import { CodecId, ColumnWriter, ParquetFileWriter, ParquetKind, type ColumnSpec, type PageCodecs } from './file-writer';
import { parquetSchema } from './record-schema';

/** Codecs inside the Parquet file (the file itself is uploaded as is). */
export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'brotli' | null;

/** A row group ends at this many rows, or at this many bytes of the file (compressed, estimated). */
const ROW_GROUP_ROWS = 122_880;
const ROW_GROUP_BYTES = 4 * 1024 * 1024;

/** The events record's columns, with real types: UTC microsecond timestamps, int64 team_id, JSON text. */
export const PARQUET_SCHEMA: readonly ColumnSpec[] = parquetSchema(EVENT_RECORD_COLUMNS);

const NULL_TEXT = Buffer.from('null');
/** Raw page bytes being compressed beyond which a write waits for them. */
const MAX_IN_FLIGHT = 2 * 1024 * 1024;
const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/** Copied once: '@bx/core' re-exports are getters, too slow per value. */
const Field = { ...CoreField };

/**
 * Text fields: written from the batch's bytes when they are UTF-8, else
 * decoded (U+FFFD), as records do. The JSON columns are checked by
 * verbatimJson as they are written.
 */
const TEXT_FIELDS = Uint8Array.from([
  Field.uuid,
  Field.event,
  Field.distinct_id,
  Field.elements_chain,
  Field.person_id,
]);

async function codecs(compression: ParquetCompression): Promise<PageCodecs | null> {
  switch (compression) {
    case 'zstd':
      // On the zstd thread: the main thread writes the next values meanwhile.
      return { pages: zstdFrames(ZSTD_PARQUET_PAGES), sparse: zstdFrames(ZSTD_PARQUET_SPARSE_PAGES) };
    case 'snappy':
      // ESM-only package: loaded on first use from this CommonJS module.
      return { pages: (await import('hysnappy')).snappyCompressor() };
    case 'gzip':
      // zlib's thread pool, on a copy (the page is reused at once).
      return { pages: (b) => gzipAsync(Buffer.from(b), { level: 6 }) };
    case 'brotli':
      return { pages: (b) => brotliAsync(Buffer.from(b), { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }) };
    case null:
      return null;
  }
}
const CODEC_IDS = {
  zstd: CodecId.ZSTD,
  snappy: CodecId.SNAPPY,
  gzip: CodecId.GZIP,
  brotli: CodecId.BROTLI,
} as const;

/** How each column's field is written by the C writer, in schema order. */
const FIELD_KINDS: ReadonlyArray<readonly [number, ParquetKind]> = [
  [Field.uuid, ParquetKind.TEXT],
  [Field.event, ParquetKind.TEXT],
  [Field.properties, ParquetKind.JSON],
  [Field.distinct_id, ParquetKind.TEXT],
  [Field.team_id, ParquetKind.INT64],
  [Field.timestamp, ParquetKind.TIMESTAMP],
  [Field.created_at, ParquetKind.TIMESTAMP],
  [Field.inserted_at, ParquetKind.TIMESTAMP],
  [Field.elements_chain, ParquetKind.TEXT],
  [Field.person_id, ParquetKind.TEXT],
  [Field.person_properties, ParquetKind.JSON],
];

export interface ParquetEncoderOptions {
  /**
   * Write every value in TypeScript, row by row (the reference the tests
   * hold the C writer to); default false: each column of a batch in C.
   */
  reference?: boolean;
}

/**
 * Encodes rows into one Parquet file, streamed: each batch's fields go
 * straight into the pages of their columns (see file-writer.ts), and a full
 * row group is handed to `sink` (an upload with back-pressure). `bytes`
 * counts the open row group as it will be written, so a caller can start
 * the next file at a size limit. The columns are the model's (events by
 * default); any batch but an EventBatch is written column by column from
 * its columns' types, in TypeScript (column-values.ts).
 *
 * An EventBatch is written column by column in C (native.parquetColumn: one call
 * per column and page), the values C leaves to it (JSON to normalise, text
 * that is not UTF-8, a timestamp in another form) in TypeScript. The main
 * thread's CPU for 1.9M rows from ClickHouse into a zstd Parquet file
 * (in-process, three runs each, alternating, on a busy machine): 400-byte
 * rows 2.27-3.39 s row by row in TypeScript, 1.09-1.72 s in C; the
 * benchmark's default rows 5.2-5.3 s, 3.6-4.3 s.
 */
export class ParquetEncoder {
  private constructor(
    private readonly file: ParquetFileWriter,
    private readonly reference: boolean,
  ) {}

  static async create(
    compression: ParquetCompression,
    sink: (chunk: Buffer) => Promise<void>,
    columns: readonly RecordColumn[] = EVENT_RECORD_COLUMNS,
    options: ParquetEncoderOptions = {},
  ): Promise<ParquetEncoder> {
    const id = compression ? CODEC_IDS[compression] : CodecId.UNCOMPRESSED;
    const schema = columns === EVENT_RECORD_COLUMNS ? PARQUET_SCHEMA : parquetSchema(columns);
    return new ParquetEncoder(
      new ParquetFileWriter(schema, await codecs(compression), id, sink, 'batch-exports'),
      options.reference ?? false,
    );
  }

  /** Bytes of the file so far, the open row group estimated. */
  get bytes(): number {
    return this.file.estimatedBytes;
  }

  /** Bytes handed to the sink. */
  get written(): number {
    return this.file.written;
  }

  /** At least the bytes of the file if it ended now (its footer aside): what a file size limit measures. */
  get upperBytes(): number {
    return this.file.upperBytes(INCOMPRESSIBLE);
  }

  /**
   * Waits for the pages being compressed; with `endPages`, ends the open
   * pages first (the row group stays open): `upperBytes` is then tight.
   */
  settle(endPages: boolean): Promise<void> {
    return endPages ? this.file.settlePages() : this.file.settle();
  }

  async write(batch: RecordBatch): Promise<void> {
    const file = this.file;
    if (!(batch instanceof EventBatch)) {
      writeColumns(file.columns, batch);
      return this.ended(batch.count);
    }
    const values = new ValueWriter(batch);
    if (this.reference) values.rows(file.columns as Eleven);
    else {
      file.columns.forEach((column, c) => {
        const [field, kind] = FIELD_KINDS[c]!;
        if (kind === ParquetKind.TEXT && !values.utf8) return values.column(column, field, kind, 0);
        // The C writer copies verbatim JSON as it is, a lone surrogate escape too: such a batch's JSON in TypeScript.
        if (kind === ParquetKind.JSON && surrogateEscapes(batch, field)) return values.column(column, field, kind, 0);
        for (let r = 0; r < batch.count; r++) {
          r = column.writeField(batch, SLOTS, field, kind, r);
          if (r < batch.count) values.value(column, field, kind, r);
        }
      });
    }
    return this.ended(batch.count);
  }

  /** `rows` more rows are in the columns: the row group ends, or the writer waits for pages in flight. */
  private async ended(rows: number): Promise<void> {
    const file = this.file;
    file.rows += rows;
    if (file.rows >= ROW_GROUP_ROWS || file.rowGroupBytes >= ROW_GROUP_BYTES) await file.flushRowGroup();
    else if (file.inFlight > MAX_IN_FLIGHT) await file.settle();
  }

  /** Writes the last row group and the footer. */
  async finish(): Promise<void> {
    await this.file.finish();
  }
}

/** The values of one batch, written in TypeScript. */
class ValueWriter {
  /** Whether the text fields are all well-formed UTF-8 (written from the bytes), else decoded (U+FFFD), as records do. */
  readonly utf8: boolean;

  constructor(private readonly batch: EventBatch) {
    this.utf8 = batch.utf8(TEXT_FIELDS);
  }

  /** Row `r`'s field `field` into `column`, written as `kind`; `verbatim`: JSON known to be verbatim (copied). */
  value(column: ColumnWriter, field: number, kind: ParquetKind, r: number, verbatim = false): void {
    const { batch } = this;
    const b = batch.bytes;
    const s = batch.start(r, field);
    const e = batch.end(r, field);
    const encoding = batch.layout[field]!;
    if (encoding !== FieldEncoding.TEXT && s !== -1) {
      // A binary UUID or timestamp, as its text (which is what the C writer writes, or the micros it holds).
      const text = Buffer.from(binaryText(b, s, e, encoding));
      if (kind === ParquetKind.TEXT) return column.bytes(text, 0, text.length);
      return column.int64Number(timestampMicros(text, 0, text.length));
    }
    switch (kind) {
      case ParquetKind.TEXT:
        if (this.utf8) column.bytes(b, s, e);
        else column.text(b.toString('utf8', s, e));
        return;
      case ParquetKind.JSON: {
        if (s === e || (e - s === 4 && b.compare(NULL_TEXT, 0, 4, s, e) === 0)) return column.null();
        if (verbatim && !mayHoldSurrogateEscape(b, s, e)) return column.bytes(b, s, e);
        // JSON text that records would not copy verbatim: normalised as records do, a lone surrogate escape as U+FFFD.
        const normalised = parquetJson(b.toString('utf8', s, e));
        if (normalised === 'null') column.null();
        else column.text(normalised);
        return;
      }
      case ParquetKind.INT64:
        return column.int64(b.readInt32LE(s + 4), b.readUInt32LE(s));
      case ParquetKind.TIMESTAMP:
        if (s === -1) return column.null();
        return column.int64Number(timestampMicros(b, s, e));
    }
  }

  /** Rows `from`.. of field `field`, every value in TypeScript. */
  column(column: ColumnWriter, field: number, kind: ParquetKind, from: number): void {
    for (let r = from; r < this.batch.count; r++) this.value(column, field, kind, r);
  }

  /** Every value, row by row, column by column in each row: the reference writer. */
  rows(columns: Eleven): void {
    const { batch } = this;
    const verbatim = [batch.verbatimJson(Field.properties), batch.verbatimJson(Field.person_properties)] as const;
    for (let r = 0; r < batch.count; r++) {
      columns.forEach((column, c) => {
        const [field, kind] = FIELD_KINDS[c]!;
        const json = kind === ParquetKind.JSON && verbatim[field === Field.properties ? 0 : 1][r] === 1;
        this.value(column, field, kind, r, json);
      });
    }
  }
}

type Eleven = [
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
  ColumnWriter,
];
