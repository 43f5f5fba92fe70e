import { jsonColumn } from '@bx/core';
import { Field as CoreField, type EventBatch } from '@bx/batch';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { ZSTD_PARQUET_PAGES } from '../object-upload';
import { zstdFrames } from '@bx/zstd';
import {
  CodecId,
  ColumnWriter,
  ConvertedType,
  ParquetFileWriter,
  ParquetType,
  type Codec,
  type ColumnSpec,
} from './file-writer';
import { timestampMicros } from './timestamp-micros';

/** Codecs inside the Parquet file (the file itself is uploaded as is). */
export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'brotli' | null;

/** A row group ends at this many rows, or at this many bytes of the file (compressed, estimated). */
const ROW_GROUP_ROWS = 122_880;
const ROW_GROUP_BYTES = 4 * 1024 * 1024;

const str = (name: string, optional: boolean, json = false): ColumnSpec => ({
  name,
  type: ParquetType.BYTE_ARRAY,
  optional,
  converted: json ? ConvertedType.JSON : ConvertedType.UTF8,
  // LogicalType: STRING (1) or JSON (12).
  logical: (w) => w.struct(json ? 12 : 1),
  stats: false,
});
const ts = (name: string, optional: boolean): ColumnSpec => ({
  name,
  type: ParquetType.INT64,
  optional,
  converted: ConvertedType.TIMESTAMP_MICROS,
  // LogicalType TIMESTAMP (8): adjusted to UTC, unit MICROS (2).
  logical: (w) => w.struct(8, (t) => t.bool(1, true).struct(2, (u) => u.struct(2))),
  stats: true,
});

/** The contract's columns, with real types: UTC microsecond timestamps, int64 team_id, JSON text. */
export const PARQUET_SCHEMA: readonly ColumnSpec[] = [
  str('uuid', false),
  str('event', false),
  str('properties', true, true),
  str('distinct_id', false),
  {
    name: 'team_id',
    type: ParquetType.INT64,
    optional: false,
    converted: ConvertedType.INT_64,
    // LogicalType INTEGER (10): 64 bits, signed.
    logical: (w) => w.struct(10, (i) => i.byte(1, 64).bool(2, true)),
    stats: true,
  },
  ts('timestamp', false),
  ts('created_at', false),
  ts('inserted_at', true),
  str('elements_chain', false),
  str('person_id', false),
  str('person_properties', true, true),
];

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
 * the next file at a size limit.
 */
export class ParquetEncoder {
  private constructor(private readonly file: ParquetFileWriter) {}

  static async create(
    compression: ParquetCompression,
    sink: (chunk: Buffer) => Promise<void>,
  ): Promise<ParquetEncoder> {
    const id = compression ? CODEC_IDS[compression] : CodecId.UNCOMPRESSED;
    return new ParquetEncoder(
      new ParquetFileWriter(PARQUET_SCHEMA, await codec(compression), id, sink, 'batch-exports'),
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

  async write(batch: EventBatch): Promise<void> {
    const file = this.file;
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
    file.rows += batch.count;
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
