import type { EventBatch, S3Config } from '@bx/core';
import { ObjectUpload, type ObjectUploadOptions, type StreamCompression } from './object-upload';
import type { ParquetCompression } from './parquet-encoder';
import { ParquetStream } from './parquet-stream';

/** One object of a run, being written: rows in, bytes streamed to S3. */
export interface OutputFile {
  readonly key: string;
  /** Whether the object has reached `limit` bytes (compressed): what splitting measures. */
  reached(limit: number): Promise<boolean>;
  write(batch: EventBatch): Promise<void>;
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
  reached(limit: number): Promise<boolean> {
    return this.upload.reached(limit);
  }
  write(batch: EventBatch): Promise<void> {
    return this.upload.write(batch.records());
  }
  finish(): Promise<number> {
    return this.upload.finish();
  }
  abort(): Promise<void> {
    return this.upload.abort();
  }
}

/** Parquet, compressed inside the file by column chunk, encoded on the Parquet thread; the file is uploaded as it is encoded. */
class ParquetFile implements OutputFile {
  private readonly upload: ObjectUpload;
  private readonly stream: ParquetStream;

  constructor(target: UploadTarget, compression: ParquetCompression) {
    this.upload = new ObjectUpload({ ...target, compression: null, contentType: 'application/vnd.apache.parquet' });
    this.stream = new ParquetStream(compression, (chunk) => this.upload.write(chunk));
  }

  get key(): string {
    return this.upload.key;
  }
  reached(limit: number): Promise<boolean> {
    return this.stream.reached(limit);
  }
  write(batch: EventBatch): Promise<void> {
    return this.stream.write(batch);
  }
  async finish(): Promise<number> {
    try {
      await this.stream.finish();
      return await this.upload.finish();
    } finally {
      this.stream.close();
    }
  }
  async abort(): Promise<void> {
    this.stream.close();
    await this.upload.abort();
  }
}

/** Opens the object `key` in the export's format. */
export async function openOutputFile(config: S3Config, target: UploadTarget): Promise<OutputFile> {
  return config.file_format === 'Parquet'
    ? new ParquetFile(target, config.compression as ParquetCompression)
    : new JsonLinesFile(target, config.compression as StreamCompression);
}
