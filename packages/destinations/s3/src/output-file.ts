import type { S3Config } from './s3-config';
import type { RecordBatch } from '@bx/batch';
import type { RecordColumn } from '@bx/core';
import { ZSTD_JSON_LINES, ZstdSlotStream } from '@bx/zstd';
import {
  FRAMING_BYTES,
  ObjectUpload,
  openParts,
  type ObjectUploadOptions,
  type StreamCompression,
} from './object-upload';
import { ParquetEncoder, type ParquetCompression } from './parquet/encoder';
import type { PartUpload } from './part-upload';

/** One object of a run, being written: rows in, bytes streamed to S3. */
export interface OutputFile {
  readonly key: string;
  /**
   * What splitting measures: at least the bytes the object would have if
   * ended now (compressed); input whose output is not known yet counts as
   * incompressible. Only for a file opened with a size limit.
   */
  upperBytes(): number;
  /**
   * Waits for output (oldest first) until `upperBytes()` is below `limit`,
   * or until the output of every write so far is known: `upperBytes()` is
   * then tight.
   */
  settleBelow(limit: number): Promise<void>;
  write(batch: RecordBatch): Promise<void>;
  /** Completes the object; its size in bytes. */
  finish(): Promise<number>;
  abort(): Promise<void>;
}

type UploadTarget = Omit<ObjectUploadOptions, 'compression' | 'contentType'>;

/** JSON Lines through a stream compressor (gzip, brotli, zstd or none). */
class JsonLinesFile implements OutputFile {
  private readonly upload: ObjectUpload;

  constructor(target: UploadTarget, compression: StreamCompression) {
    this.upload = new ObjectUpload({ ...target, compression, contentType: 'application/x-ndjson' });
  }

  get key(): string {
    return this.upload.key;
  }
  upperBytes(): number {
    return this.upload.upperBytes();
  }
  settleBelow(limit: number): Promise<void> {
    return this.upload.settleBelow(limit);
  }
  write(batch: RecordBatch): Promise<void> {
    return this.upload.write(batch.records());
  }
  finish(): Promise<number> {
    return this.upload.finish();
  }
  abort(): Promise<void> {
    return this.upload.abort();
  }
}

/**
 * JSON Lines compressed with zstd: each batch's records are written straight
 * into memory shared with the zstd thread, and its output goes from there
 * to the parts (see ZstdSlotStream.writeRecords: as many rows a slot as fit;
 * from a row larger than a slot on, the rest goes through `records()` and
 * is copied in).
 */
class ZstdJsonLinesFile implements OutputFile {
  private readonly parts: PartUpload;
  private readonly zstd: ZstdSlotStream;

  constructor(target: UploadTarget) {
    this.key = target.key;
    this.parts = openParts({ ...target, contentType: 'application/x-ndjson' });
    this.zstd = new ZstdSlotStream(ZSTD_JSON_LINES, (chunk) => this.parts.write(chunk));
  }

  readonly key: string;

  upperBytes(): number {
    return this.zstd.upperBytes() + FRAMING_BYTES;
  }
  settleBelow(limit: number): Promise<void> {
    return this.zstd.settleBelow(limit - FRAMING_BYTES);
  }
  write(batch: RecordBatch): Promise<void> {
    return this.zstd.writeRecords(batch);
  }
  async finish(): Promise<number> {
    await this.zstd.end();
    await this.parts.complete();
    return this.zstd.written;
  }
  async abort(): Promise<void> {
    this.zstd.destroy();
    await this.parts.abort();
  }
}

/**
 * Parquet, compressed inside the file by page, encoded as batches arrive on
 * this thread (see parquet/file-writer.ts); each row group goes to the
 * object's parts as soon as it is complete, copied before the writer reuses
 * its memory.
 */
class ParquetFile implements OutputFile {
  private constructor(
    readonly key: string,
    private readonly parts: PartUpload,
    private readonly encoder: ParquetEncoder,
  ) {}

  static async open(
    target: UploadTarget,
    compression: ParquetCompression,
    columns: readonly RecordColumn[],
  ): Promise<ParquetFile> {
    const parts = openParts({ ...target, contentType: 'application/vnd.apache.parquet' });
    const encoder = await ParquetEncoder.create(compression, (chunk) => parts.write(chunk), columns);
    return new ParquetFile(target.key, parts, encoder);
  }

  upperBytes(): number {
    return this.encoder.upperBytes + FRAMING_BYTES;
  }
  async settleBelow(limit: number): Promise<void> {
    // Pages being compressed first; the open pages are ended only if that is not enough.
    if (this.upperBytes() >= limit) await this.encoder.settle(false);
    if (this.upperBytes() >= limit) await this.encoder.settle(true);
  }
  write(batch: RecordBatch): Promise<void> {
    return this.encoder.write(batch);
  }
  async finish(): Promise<number> {
    await this.encoder.finish();
    await this.parts.complete();
    return this.encoder.written;
  }
  abort(): Promise<void> {
    return this.parts.abort();
  }
}

/** Opens the object `key` in the export's format, for records of `columns` (the model's). */
export async function openOutputFile(
  config: S3Config,
  target: UploadTarget,
  columns: readonly RecordColumn[],
): Promise<OutputFile> {
  return config.file_format === 'Parquet'
    ? ParquetFile.open(target, config.compression as ParquetCompression, columns)
    : config.compression === 'zstd'
      ? new ZstdJsonLinesFile(target)
      : new JsonLinesFile(target, config.compression as StreamCompression);
}
