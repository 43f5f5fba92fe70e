import { EVENT_RECORD_COLUMNS, jsonColumn, type RecordColumn } from '@bx/core';
import { Field as CoreField, EventBatch, timestampMicros, type RecordBatch } from '@bx/batch';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { INCOMPRESSIBLE, ZSTD_PARQUET_PAGES } from '../object-upload';
import { zstdFrames } from '../zstd-stream';
import { writeColumns } from './column-values';
import { CodecId, ColumnWriter, ParquetFileWriter, type Codec, type ColumnSpec } from './file-writer';
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

async function codec(compression: ParquetCompression): Promise<Codec | null> {
  switch (compression) {
    case 'zstd':
      // On the zstd thread: the main thread writes the next values meanwhile.
      return zstdFrames(ZSTD_PARQUET_PAGES);
    case 'snappy':
      // ESM-only package: loaded on first use from this CommonJS module.
      return (await import('hysnappy')).snappyCompressor();
    case 'gzip':
      // zlib's thread pool, on a copy (the page is reused at once).
      return (b) => gzipAsync(Buffer.from(b), { level: 6 });
    case 'brotli':
      return (b) => brotliAsync(Buffer.from(b), { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } });
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

/**
 * Encodes rows into one Parquet file, streamed: each batch's fields go
 * straight into the pages of their columns (see file-writer.ts), and a full
 * row group is handed to `sink` (an upload with back-pressure). `bytes`
 * counts the open row group as it will be written, so a caller can start
 * the next file at a size limit. The columns are the model's (events by
 * default); an EventBatch is written by its own unrolled loop, any other
 * batch column by column from its columns' types (column-values.ts).
 */
export class ParquetEncoder {
  private constructor(private readonly file: ParquetFileWriter) {}

  static async create(
    compression: ParquetCompression,
    sink: (chunk: Buffer) => Promise<void>,
    columns: readonly RecordColumn[] = EVENT_RECORD_COLUMNS,
  ): Promise<ParquetEncoder> {
    const id = compression ? CODEC_IDS[compression] : CodecId.UNCOMPRESSED;
    const schema = parquetSchema(columns);
    return new ParquetEncoder(new ParquetFileWriter(schema, await codec(compression), id, sink, 'batch-exports'));
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
    const [
      uuid,
      event,
      properties,
      distinctId,
      teamId,
      timestamp,
      createdAt,
      insertedAt,
      elements,
      personId,
      personProps,
    ] = file.columns as Eleven;
    const b = batch.bytes;
    const utf8 = batch.utf8(TEXT_FIELDS);
    const text = (col: ColumnWriter, r: number, f: number) => {
      if (utf8) col.bytes(b, batch.start(r, f), batch.end(r, f));
      else col.text(b.toString('utf8', batch.start(r, f), batch.end(r, f)));
    };
    // Verbatim JSON (also checked to be UTF-8), per row, for the two JSON columns.
    const verbatim = [batch.verbatimJson(Field.properties), batch.verbatimJson(Field.person_properties)] as const;
    const json = (col: ColumnWriter, r: number, f: number, ok: Uint8Array) => {
      const s = batch.start(r, f);
      const e = batch.end(r, f);
      if (s === e || (e - s === 4 && b.compare(NULL_TEXT, 0, 4, s, e) === 0)) return col.null();
      if (ok[r] === 1) return col.bytes(b, s, e);
      const normalised = jsonColumn(b.toString('utf8', s, e));
      if (normalised === 'null') col.null();
      else col.text(normalised);
    };
    const micros = (col: ColumnWriter, r: number, f: number) =>
      col.int64Number(timestampMicros(b, batch.start(r, f), batch.end(r, f)));
    for (let r = 0; r < batch.count; r++) {
      text(uuid, r, Field.uuid);
      text(event, r, Field.event);
      json(properties, r, Field.properties, verbatim[0]);
      text(distinctId, r, Field.distinct_id);
      const t = batch.start(r, Field.team_id);
      teamId.int64(b.readInt32LE(t + 4), b.readUInt32LE(t));
      micros(timestamp, r, Field.timestamp);
      micros(createdAt, r, Field.created_at);
      if (batch.start(r, Field.inserted_at) === -1) insertedAt.null();
      else micros(insertedAt, r, Field.inserted_at);
      text(elements, r, Field.elements_chain);
      text(personId, r, Field.person_id);
      json(personProps, r, Field.person_properties, verbatim[1]);
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
