import { Field as CoreField, isVerbatimJson, jsonColumn, type EventBatch } from '@bx/core';
import { isUtf8 } from 'node:buffer';
import { constants, brotliCompressSync, gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { ZSTD_LEVEL } from './object-upload';
import { timestampMicros } from './timestamp-micros';

/** Codecs inside the Parquet file (the file itself is uploaded as is). */
export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'brotli' | null;

/** Rows per row group, and batch bytes per row group: the memory one file holds at a time. */
const ROW_GROUP_ROWS = 10_000;
const ROW_GROUP_BYTES = 6 * 1024 * 1024;
const JSON_COLUMNS = new Set(['properties', 'person_properties']);
const TEXT_COLUMNS = new Set([...JSON_COLUMNS, 'uuid', 'event', 'distinct_id', 'elements_chain', 'person_id']);
const UNIQUE_COLUMNS = new Set([...JSON_COLUMNS, 'uuid']);
const CODECS = { zstd: 'ZSTD', snappy: 'SNAPPY', gzip: 'GZIP', brotli: 'BROTLI' } as const;

type Writer = import('hyparquet-writer', { with: { 'resolution-mode': 'import' } }).ParquetWriter;
type SchemaElement = import('hyparquet-writer', { with: { 'resolution-mode': 'import' } }).SchemaElement;

/** A BYTE_ARRAY value: the field's bytes in the batch, or text where it had to be rewritten. */
type Text = Uint8Array | string;

interface Columns {
  uuid: Text[];
  event: Text[];
  properties: Array<Text | null>;
  distinct_id: Text[];
  team_id: bigint[];
  timestamp: number[];
  created_at: number[];
  inserted_at: Array<number | null>;
  elements_chain: Text[];
  person_id: Text[];
  person_properties: Array<Text | null>;
}

const str = (name: string, optional: boolean, json = false): SchemaElement => ({
  name,
  type: 'BYTE_ARRAY',
  // Values are already JSON text: written as UTF8, relabelled JSON before the footer.
  converted_type: 'UTF8',
  logical_type: { type: json ? 'JSON' : 'STRING' },
  repetition_type: optional ? 'OPTIONAL' : 'REQUIRED',
});
const ts = (name: string, optional: boolean): SchemaElement => ({
  name,
  type: 'INT64',
  converted_type: 'TIMESTAMP_MICROS',
  logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
  repetition_type: optional ? 'OPTIONAL' : 'REQUIRED',
});

/** The contract's columns, with real types: UTC microsecond timestamps, int64 team_id, JSON text. */
const SCHEMA: SchemaElement[] = [
  { name: 'schema', num_children: 11 },
  str('uuid', false),
  str('event', false),
  str('properties', true, true),
  str('distinct_id', false),
  { name: 'team_id', type: 'INT64', converted_type: 'INT_64', repetition_type: 'REQUIRED' },
  ts('timestamp', false),
  ts('created_at', false),
  ts('inserted_at', true),
  str('elements_chain', false),
  str('person_id', false),
  str('person_properties', true, true),
];

const emptyColumns = (): Columns => Object.fromEntries(SCHEMA.slice(1).map((e) => [e.name, []])) as unknown as Columns;
const jsonOrNull = (text: string) => {
  const json = jsonColumn(text);
  return json === 'null' ? null : json;
};
const NULL_TEXT = Buffer.from('null');

/** Copied once: '@bx/core' re-exports are getters, too slow per value. */
const Field = { ...CoreField };

/** Text fields: views of the batch's bytes when they are UTF-8, else decoded (U+FFFD), as records do. */
const TEXT_FIELDS = [Field.uuid, Field.event, Field.distinct_id, Field.elements_chain, Field.person_id];

/**
 * Encodes rows into one Parquet file, streamed: rows are buffered column-wise
 * for one row group, which is then encoded, compressed and handed to `sink`
 * (an upload with back-pressure). `bytes` is exact after every row group, so
 * a caller can start the next file at a size limit.
 */
export class ParquetEncoder {
  private cols = emptyColumns();
  /** Batch bytes the buffered rows point into. */
  private bytesHeld = 0;

  private constructor(
    private readonly writer: Writer,
    private readonly sinkWriter: { offset: number },
  ) {}

  static async create(
    compression: ParquetCompression,
    sink: (chunk: Buffer) => Promise<void>,
  ): Promise<ParquetEncoder> {
    // ESM-only packages: loaded on first use from this CommonJS module.
    const { ByteWriter, ParquetWriter } = await import('hyparquet-writer');
    const { snappyCompressor } = await import('hysnappy');
    class SinkWriter extends ByteWriter {
      private pending: Promise<void> = Promise.resolve();
      constructor() {
        super(1 << 20);
      }
      flush(): Promise<void> {
        const chunk = Buffer.from(this.buffer.slice(0, this.index));
        this.index = 0;
        this.pending = this.pending.then(() => sink(chunk));
        return this.pending;
      }
      override finish(): Promise<void> {
        return this.flush();
      }
    }
    const sinkWriter = new SinkWriter();
    const writer = new ParquetWriter({
      writer: sinkWriter,
      schema: SCHEMA.map((e) => ({ ...e })),
      codec: compression ? CODECS[compression] : 'UNCOMPRESSED',
      compressors: {
        SNAPPY: snappyCompressor(),
        ZSTD: (b: Uint8Array) => zstdCompress(b, { compressionLevel: ZSTD_LEVEL }),
        GZIP: (b: Uint8Array) => gzipSync(b, { level: 6 }),
        BROTLI: (b: Uint8Array) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }),
      },
      createdBy: 'batch-exports (hyparquet-writer)',
    });
    return new ParquetEncoder(writer, sinkWriter);
  }

  /** Bytes of the file handed to the sink so far. */
  get bytes(): number {
    return this.sinkWriter.offset;
  }

  async write(batch: EventBatch): Promise<void> {
    const c = this.cols;
    const b = batch.bytes;
    const utf8 = textIsUtf8(batch);
    const text = (r: number, f: number): Text =>
      utf8 ? b.subarray(batch.start(r, f), batch.end(r, f)) : b.toString('utf8', batch.start(r, f), batch.end(r, f));
    const json = (r: number, f: number): Text | null => {
      const s = batch.start(r, f);
      const e = batch.end(r, f);
      if (s === e) return null;
      // isVerbatimJson also checks the bytes are UTF-8.
      if (isVerbatimJson(b, s, e))
        return e - s === 4 && b.compare(NULL_TEXT, 0, 4, s, e) === 0 ? null : b.subarray(s, e);
      return jsonOrNull(b.toString('utf8', s, e));
    };
    const micros = (r: number, f: number) => timestampMicros(b, batch.start(r, f), batch.end(r, f));
    for (let r = 0; r < batch.count; r++) {
      c.uuid.push(text(r, Field.uuid));
      c.event.push(text(r, Field.event));
      c.properties.push(json(r, Field.properties));
      c.distinct_id.push(text(r, Field.distinct_id));
      c.team_id.push(b.readBigInt64LE(batch.start(r, Field.team_id)));
      c.timestamp.push(micros(r, Field.timestamp));
      c.created_at.push(micros(r, Field.created_at));
      c.inserted_at.push(batch.start(r, Field.inserted_at) === -1 ? null : micros(r, Field.inserted_at));
      c.elements_chain.push(text(r, Field.elements_chain));
      c.person_id.push(text(r, Field.person_id));
      c.person_properties.push(json(r, Field.person_properties));
    }
    this.bytesHeld += b.length;
    if (c.uuid.length >= ROW_GROUP_ROWS || this.bytesHeld >= ROW_GROUP_BYTES) await this.flushRowGroup();
  }

  /** Encodes the buffered rows as one row group. */
  async flushRowGroup(): Promise<void> {
    const cols = this.cols;
    if (cols.uuid.length === 0) return;
    this.cols = emptyColumns();
    this.bytesHeld = 0;
    await this.writer.write({
      columnData: SCHEMA.slice(1).map(({ name }) => ({
        name,
        data: cols[name as keyof Columns] as unknown[],
        // Min/max only for numbers and timestamps: a text min/max would be a view
        // that keeps its whole source batch in memory until the footer.
        statistics: !TEXT_COLUMNS.has(name),
        // Unique per row: a dictionary cannot win, and trying costs a pass.
        ...(UNIQUE_COLUMNS.has(name) ? { encoding: 'PLAIN' as const } : {}),
        // No page offset index: held for every row group until the footer, it grew memory with the file.
        offsetIndex: false,
      })),
      rowGroupSize: cols.uuid.length,
    });
  }

  /** Writes the last row group and the footer. */
  async finish(): Promise<void> {
    await this.flushRowGroup();
    for (const e of this.writer.schema) if (JSON_COLUMNS.has(e.name)) e.converted_type = 'JSON';
    await this.writer.finish();
  }
}

/**
 * Whether every text field of the batch is UTF-8. JSON columns are checked by
 * isVerbatimJson as they are written; the others are short: a scan for
 * non-ASCII bytes, and isUtf8 on only the fields that have them.
 */
function textIsUtf8(batch: EventBatch): boolean {
  const b = batch.bytes;
  for (let r = 0; r < batch.count; r++) {
    for (const f of TEXT_FIELDS) {
      const s = batch.start(r, f);
      const e = batch.end(r, f);
      for (let i = s; i < e; i++) {
        if (b[i]! >= 0x80) {
          if (!isUtf8(b.subarray(s, e))) return false;
          break;
        }
      }
    }
  }
  return true;
}
