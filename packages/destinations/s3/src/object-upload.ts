import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { once } from 'node:events';
import { PassThrough, Transform, type Writable } from 'node:stream';
import { constants, createBrotliCompress, createGzip } from 'node:zlib';
import { CompressStream } from 'zstd-napi';

/** Multipart part size: few requests, bounded memory (partSize × queueSize in flight). */
export const PART_SIZE = 16 * 1024 * 1024;
const QUEUE_SIZE = 2;

/** Codec levels: fast enough to keep up with ClickHouse, still a good ratio. */
export const GZIP_LEVEL = 6;
export const BROTLI_QUALITY = 4;
export const ZSTD_LEVEL = 3;

export type StreamCompression = 'gzip' | 'brotli' | 'zstd' | null;

export function createCompressor(compression: StreamCompression): Transform {
  switch (compression) {
    case 'gzip':
      return createGzip({ level: GZIP_LEVEL });
    case 'brotli':
      return createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY } });
    case 'zstd':
      return new CompressStream({ compressionLevel: ZSTD_LEVEL });
    case null:
      return new PassThrough();
  }
}

export interface ObjectUploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  compression: StreamCompression;
  contentType: string;
  /** Extra PutObject/CreateMultipartUpload parameters (server-side encryption). */
  params?: Record<string, string>;
}

/**
 * One object written as a stream: bytes in → compressor → counter → multipart
 * upload. write() resolves when the pipeline can take more (back-pressure)
 * and rejects as soon as the upload fails.
 */
export class ObjectUpload {
  readonly key: string;
  /** Bytes after compression handed to the upload so far. */
  bytes = 0;
  private readonly input: Writable;
  private readonly upload: Upload;
  private readonly done: Promise<unknown>;
  private failure: unknown = null;

  constructor(opts: ObjectUploadOptions) {
    this.key = opts.key;
    const compressor = createCompressor(opts.compression);
    const counter = new Transform({
      transform: (chunk: Buffer, _enc, callback) => {
        this.bytes += chunk.length;
        callback(null, chunk);
      },
    });
    compressor.on('error', (err) => counter.destroy(err));
    compressor.pipe(counter);
    this.input = compressor;
    this.upload = new Upload({
      client: opts.client,
      params: { Bucket: opts.bucket, Key: opts.key, Body: counter, ContentType: opts.contentType, ...opts.params },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    this.done = this.upload.done();
    this.done.catch((err: unknown) => {
      this.failure = err;
      this.input.destroy();
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.input.write(chunk)) return;
    await Promise.race([once(this.input, 'drain'), this.done.then(() => undefined)]);
    if (this.failure) throw this.failure;
  }

  /** Ends the object and waits until S3 has it; returns its size in bytes. */
  async finish(): Promise<number> {
    if (this.failure) throw this.failure;
    this.input.end();
    await this.done;
    return this.bytes;
  }

  /** Abandons the object; an open multipart upload is aborted. */
  async abort(): Promise<void> {
    this.input.destroy();
    await this.upload.abort().catch(() => undefined);
    await this.done.catch(() => undefined);
  }
}
