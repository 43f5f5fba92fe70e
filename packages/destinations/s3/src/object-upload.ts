import type { S3Client } from '@aws-sdk/client-s3';
import { drainedOrClosed } from '@bx/core';
import { PassThrough, Transform, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { constants, createBrotliCompress, type BrotliCompress } from 'node:zlib';
import { ParallelGzip } from './parallel-gzip';
import { PartUpload } from './part-upload';
import type { ObjectPut } from './object-put';
import { ZSTD_JSON_LINES, type ZstdStreamParams } from '@bx/zstd';

/** Multipart part size: few requests, bounded memory (partSize × queueSize in flight). */
export const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

/** Codec levels: fast enough to keep up with ClickHouse, still a good ratio. */
export const GZIP_LEVEL = 6;
export const BROTLI_QUALITY = 4;
/**
 * Parquet pages (one frame each, up to about 1 MiB): the JSON Lines tuning. On the
 * benchmark's `properties` column as PLAIN pages of 1 MiB (296 MB, one-shot,
 * best of 3): 319 → 406 MB/s for 0.4% more bytes (ratio 2.158 → 2.149).
 */
export const ZSTD_PARQUET_PAGES: ZstdStreamParams = ZSTD_JSON_LINES;

/**
 * Pages of UUID columns (36 characters of random hex each, and a 4-byte
 * length): level 1's match finder finds little there and still took most of
 * the time; skipping 17 positions per miss (`targetLength` 16) leaves the
 * work to the literals' Huffman coding. A zstd Parquet file of the 1.9M
 * 400-byte rows (data-path-cpu, alternating, best of 3 each): 0.84-0.98 →
 * 0.64-0.73 s of zstd CPU for 109 → 110 MB; targetLength 64 was no faster
 * and made 119 MB, 4 made 112 MB.
 */
export const ZSTD_PARQUET_SPARSE_PAGES: ZstdStreamParams = { ...ZSTD_JSON_LINES, targetLength: 16 };

/**
 * Output bytes per input byte of data that does not compress, at most: each
 * codec falls back to stored blocks (gzip 5 bytes per 64 KiB, zstd 3 per
 * 128 KiB, brotli a few per metablock); snappy's bound is larger, but only
 * for input built against it. Rounded up.
 */
export const INCOMPRESSIBLE = 1.01;
/** A file's headers and trailers beyond that (gzip members, a zstd frame's end, Parquet's footer). */
export const FRAMING_BYTES = 4096;

/** JSON Lines codecs; zstd, which runs in shared memory instead of a stream, is ZstdSlotStream. */
export type StreamCompression = 'gzip' | 'brotli' | null;

/**
 * Input a compressor holds before write() asks the caller to wait: two source
 * batches, so the next batch is prepared while this one is compressed.
 */
const COMPRESSOR_BUFFER = 4 * 1024 * 1024;
/** gzip members compressed at once: one per core of this machine class. */
const GZIP_PARALLEL = 2;
/** Output of one zlib call on the threadpool: large, so a batch takes few round trips. */
const ZLIB_CHUNK = 256 * 1024;

/** A compressor whose work runs off the main thread (zlib's threadpool). */
export function createCompressor(compression: StreamCompression): Transform {
  const buffering = { writableHighWaterMark: COMPRESSOR_BUFFER };
  switch (compression) {
    case 'gzip':
      return new ParallelGzip(GZIP_LEVEL, GZIP_PARALLEL, COMPRESSOR_BUFFER);
    case 'brotli':
      return createBrotliCompress({
        params: { [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY },
        chunkSize: ZLIB_CHUNK,
        ...buffering,
      });
    case null:
      return new PassThrough(buffering);
  }
}

export interface ObjectUploadOptions {
  /**
   * Keep `upperBytes()` tight for a file size limit: each write is followed
   * by a point where its output is known (brotli flushes there). Off, the
   * pipeline is left alone.
   */
  measured?: boolean;
  client: S3Client;
  bucket: string;
  key: string;
  compression: StreamCompression;
  contentType: string;
  /** Extra PutObject/CreateMultipartUpload parameters (server-side encryption). */
  params?: Record<string, string>;
  /** How an object of one part is sent; default the client's PutObject. */
  put?: ObjectPut;
}

/** The object's parts as every upload here sends them (PART_SIZE, QUEUE_SIZE in flight). */
export function openParts(opts: Omit<ObjectUploadOptions, 'compression'>): PartUpload {
  return new PartUpload({
    client: opts.client,
    bucket: opts.bucket,
    key: opts.key,
    contentType: opts.contentType,
    params: opts.params,
    put: opts.put,
    partSize: PART_SIZE,
    queueSize: QUEUE_SIZE,
  });
}

/**
 * One object written as a stream: bytes in → compressor → parts (see PartUpload).
 * write() resolves when the pipeline can take more (back-pressure) and rejects
 * as soon as the upload fails.
 */
export class ObjectUpload {
  readonly key: string;
  private readonly compressor: Transform;
  private readonly parts: PartUpload;
  private readonly sink: Writable;
  private readonly done: Promise<void>;
  private failure: unknown = null;
  /** Compressed bytes that reached the parts. */
  private counted = 0;
  private readonly measured: boolean;
  private readonly compression: StreamCompression;
  /** Input bytes written, and of those the bytes whose output is in `bytes` (measured files). */
  private input = 0;
  private settledInput = 0;
  /** Per write not known settled yet, oldest first: settles once its output is in `bytes`. */
  private readonly checkpoints: Array<Promise<void>> = [];

  constructor(opts: ObjectUploadOptions) {
    this.key = opts.key;
    this.measured = opts.measured ?? false;
    this.compression = opts.compression;
    this.compressor = createCompressor(opts.compression);
    this.parts = openParts(opts);
    this.sink = new Writable({
      // Each chunk is copied into a part at once: the compressor's output dies young.
      write: (chunk: Buffer, _enc, callback) => {
        this.parts.write(chunk).then(() => {
          this.counted += chunk.length;
          callback();
        }, callback);
      },
      final: (callback) => {
        this.parts.complete().then(() => callback(), callback);
      },
    });
    this.compressor.on('error', (err) => this.sink.destroy(err));
    this.compressor.pipe(this.sink);
    this.done = finished(this.sink);
    this.done.catch((err: unknown) => {
      this.failure = err;
      this.compressor.destroy();
      void this.parts.abort();
    });
  }

  /** Compressed bytes produced so far (uploaded, or waiting for the upload). */
  get bytes(): number {
    return this.counted + this.sink.writableLength + this.compressor.readableLength;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    let ready: boolean;
    if (this.measured) {
      const upTo = (this.input += chunk.length);
      let taken!: () => void;
      const known = new Promise<void>((resolve) => (taken = resolve)).then(() => this.outputOf(upTo));
      // Settles on failure too: a destroyed stream calls back pending writes with an error.
      this.checkpoints.push(known.catch(() => undefined));
      ready = this.compressor.write(chunk, () => taken());
    } else {
      ready = this.compressor.write(chunk);
    }
    if (ready || this.failure) return;
    await drainedOrClosed(this.compressor);
    if (this.failure) throw this.failure;
  }

  /**
   * Once the compressor has taken the input up to `upTo`: waits until its
   * output is in `bytes` (a gzip member pushed, a brotli flush done; at
   * once without compression), then counts that input as settled.
   */
  private async outputOf(upTo: number): Promise<void> {
    const c = this.compressor;
    if (c instanceof ParallelGzip) await c.settled();
    else if (this.compression === 'brotli') {
      const brotli = c as BrotliCompress;
      await new Promise<void>((resolve) => brotli.flush(constants.BROTLI_OPERATION_FLUSH, () => resolve()));
    }
    this.settledInput = Math.max(this.settledInput, upTo);
  }

  /**
   * At least the size the object would have if ended now, plus a codec's
   * framing: the output so far, and the input whose output is not known yet
   * counted as if it did not compress at all. Tight after `settle()`.
   * Measured files only.
   */
  upperBytes(): number {
    return this.bytes + (this.input - this.settledInput) * INCOMPRESSIBLE + FRAMING_BYTES;
  }

  /**
   * Waits for the output of the oldest writes, one at a time, until
   * `upperBytes()` is below `limit` or every write's output is known: the
   * writes after those keep compressing meanwhile. Rejects if the upload failed.
   */
  async settleBelow(limit: number): Promise<void> {
    while (this.checkpoints.length > 0 && this.upperBytes() >= limit) {
      await this.checkpoints.shift();
      if (this.failure) throw this.failure;
    }
  }

  /** Ends the object and waits until S3 has it; returns its size in bytes. */
  async finish(): Promise<number> {
    if (this.failure) throw this.failure;
    this.compressor.end();
    await this.done;
    return this.bytes;
  }

  /** Abandons the object; an open multipart upload is aborted. */
  async abort(): Promise<void> {
    this.compressor.destroy();
    this.sink.destroy();
    await this.parts.abort();
    await this.done.catch(() => undefined);
  }
}
