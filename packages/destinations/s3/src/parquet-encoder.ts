import { jsonColumn, type EventRow } from '@bx/core';
import { constants, brotliCompressSync, gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import { timestampMicros } from './timestamp-micros';

/** Codecs inside the Parquet file (the file itself is uploaded as is). */
export type ParquetCompression = 'zstd' | 'snappy' | 'gzip' | 'brotli' | null;

/** Rows per row group, and string data per row group: the memory one file holds at a time. */
const ROW_GROUP_ROWS = 20_000;
const ROW_GROUP_CHARS = 12 * 1024 * 1024;
const JSON_COLUMNS = new Set(['properties', 'person_properties']);
const CODECS = { zstd: 'ZSTD', snappy: 'SNAPPY', gzip: 'GZIP', brotli: 'BROTLI' } as const;

type Writer = import('hyparquet-writer', { with: { 'resolution-mode': 'import' } }).ParquetWriter;
type SchemaElement = import('hyparquet-writer', { with: { 'resolution-mode': 'import' } }).SchemaElement;

interface Columns {
  uuid: string[];
  event: string[];
  properties: Array<string | null>;
  distinct_id: string[];
  team_id: bigint[];
  timestamp: number[];
  created_at: number[];
  inserted_at: Array<number | null>;
  elements_chain: string[];
  person_id: string[];
  person_properties: Array<string | null>;
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

/**
 * Encodes rows into one Parquet file, streamed: rows are buffered column-wise
 * for one row group, which is then encoded, compressed and handed to `sink`
 * (an upload with back-pressure). `bytes` is exact after every row group, so
 * a caller can start the next file at a size limit.
 */
export class ParquetEncoder {
  private cols = emptyColumns();
  private chars = 0;

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
        ZSTD: (b: Uint8Array) => zstdCompress(b, { compressionLevel: 3 }),
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

  async write(rows: readonly EventRow[]): Promise<void> {
    const c = this.cols;
    for (const r of rows) {
      c.uuid.push(r.uuid);
      c.event.push(r.event);
      c.properties.push(jsonOrNull(r.properties));
      c.distinct_id.push(r.distinct_id);
      c.team_id.push(BigInt(r.team_id));
      c.timestamp.push(timestampMicros(r.timestamp));
      c.created_at.push(timestampMicros(r.created_at));
      c.inserted_at.push(r.inserted_at ? timestampMicros(r.inserted_at) : null);
      c.elements_chain.push(r.elements_chain);
      c.person_id.push(r.person_id);
      c.person_properties.push(jsonOrNull(r.person_properties));
      this.chars += r.properties.length + r.person_properties.length + r.elements_chain.length + 150;
    }
    if (c.uuid.length >= ROW_GROUP_ROWS || this.chars >= ROW_GROUP_CHARS) await this.flushRowGroup();
  }

  /** Encodes the buffered rows as one row group. */
  async flushRowGroup(): Promise<void> {
    const cols = this.cols;
    if (cols.uuid.length === 0) return;
    this.cols = emptyColumns();
    this.chars = 0;
    await this.writer.write({
      columnData: SCHEMA.slice(1).map(({ name }) => ({
        name,
        data: cols[name as keyof Columns] as unknown[],
        // min/max of JSON text helps no reader and costs a pass over it.
        statistics: !JSON_COLUMNS.has(name),
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
