import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import * as native from '@bx/native';
import { createHash } from 'node:crypto';
import { sdkPut, type ObjectPut } from './object-put';

/** Where SigV4 carries the payload's hash (a signer finding it there does not hash again). */
const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';
/** S3's limit on the parts of one multipart upload. */
const MAX_PARTS = 10_000;
/** The first buffer of an object: small objects (most runs of small exports) stay small. */
const FIRST_BUFFER = 64 * 1024;
/** Full part buffers kept free between uploads: a worker's run or two (QUEUE_SIZE + 1 each). */
const POOLED_PARTS = 6;

/**
 * Part buffers handed from one upload to the next. Fresh ones per upload
 * were new memory for the kernel to map page by page as the output was
 * copied in (the first part grown from 64 KiB by doubling, seven copies, on
 * top): on a zstd JSON Lines run of 1.9M 400-byte rows (190 MB of parts),
 * the worker's page faults per repetition fell from 5,200-15,200 to
 * 3,600-7,700 with this pool, at several microseconds each on this VM.
 */
const freeParts: Buffer[] = [];
function takePart(size: number): Buffer | undefined {
  const at = freeParts.findIndex((b) => b.length === size);
  return at < 0 ? undefined : freeParts.splice(at, 1)[0];
}
/** Keeps `buffers` of `size` bytes; when full, the oldest kept go (the latest part size is the likeliest next). */
function giveParts(size: number, buffers: Buffer[]): void {
  for (const b of buffers) if (b.length === size && !freeParts.includes(b)) freeParts.push(b);
  freeParts.splice(0, Math.max(0, freeParts.length - POOLED_PARTS));
}

/** Free part buffers of `size` bytes kept for the next uploads (tests). */
export function freePartBuffers(size: number): number {
  return freeParts.filter((b) => b.length === size).length;
}

export interface PartUploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  contentType: string;
  /** Extra PutObject/CreateMultipartUpload parameters (server-side encryption). */
  params?: Record<string, string>;
  /** How an object of one part is sent; default the client's PutObject. */
  put?: ObjectPut;
  partSize: number;
  /** Parts sent at once; write() waits while this many are in flight. */
  queueSize: number;
}

/**
 * One S3 object written in parts: bytes are copied into part buffers that
 * are reused once their part is sent, so a long upload allocates
 * `queueSize + 1` parts in all (the SDK's own lib-storage concatenates a new
 * buffer per part, and the old generation of GC pays for each). An object
 * that fits in one part is sent with PutObject (`put`); a larger one as a
 * multipart upload, opened with the first full part and aborted on failure.
 */
export class PartUpload {
  private part: Buffer = Buffer.allocUnsafeSlow(0);
  private used = 0;
  private partNumber = 0;
  private readonly spare: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private uploadId: Promise<string> | null = null;
  private readonly aborter = new AbortController();
  /** Options of every request: abort() cancels what is in flight. */
  private readonly sending = { abortSignal: this.aborter.signal };
  private failure: unknown = null;
  private settled = false;
  private aborting: Promise<void> | null = null;

  constructor(private readonly opts: PartUploadOptions) {}

  /** Copies `chunk` into the object; resolves when fewer than `queueSize` parts are in flight. */
  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.failure) throw this.failure;
      // A full part is sent once more bytes come: the last part is never empty.
      if (this.used === this.opts.partSize) await this.sendPart();
      const n = Math.min(chunk.length - at, this.opts.partSize - this.used);
      this.reserve(this.used + n);
      // memcpy: V8's own copy goes element by element out of shared memory (a zstd slot).
      native.copy(this.part, this.used, chunk.subarray(at, at + n));
      this.used += n;
      at += n;
    }
  }

  /** Sends what is left and completes the object. */
  async complete(): Promise<void> {
    try {
      if (this.failure) throw this.failure;
      if (this.partNumber === 0) {
        const body = this.part.subarray(0, this.used);
        const put = this.opts.put ?? sdkPut(this.opts.client);
        await put({ ...this.objectParams(), Body: body, ContentLength: body.length }, this.aborter.signal);
        this.settled = true;
        this.release();
        return;
      }
      if (this.used > 0) await this.sendPart();
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
      this.parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      await this.opts.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.opts.bucket,
          Key: this.opts.key,
          UploadId: await this.uploadId!,
          MultipartUpload: { Parts: this.parts },
        }),
        this.sending,
      );
      this.settled = true;
      this.release();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /**
   * The buffers go to the next upload once this one is complete (every
   * request has ended). A failed upload keeps them: a request cut short
   * might still hold a part.
   */
  private release(): void {
    giveParts(this.opts.partSize, [this.part, ...this.spare.splice(0)]);
    this.part = Buffer.allocUnsafeSlow(0);
    this.used = 0;
  }

  /**
   * Stops sending, and aborts the multipart upload if one is open (best
   * effort: a re-run cleans up too). A failed part calls it at once.
   */
  abort(): Promise<void> {
    this.aborting ??= this.settled ? Promise.resolve() : this.abortNow();
    return this.aborting;
  }

  private async abortNow(): Promise<void> {
    this.settled = true;
    this.aborter.abort();
    await Promise.allSettled(this.inFlight);
    const uploadId = await this.uploadId?.catch(() => null);
    if (!uploadId) return;
    await this.opts.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: this.opts.key, UploadId: uploadId }))
      .catch(() => undefined);
  }

  /** Hands the current part to S3 and waits until fewer than `queueSize` parts are in flight. */
  private async sendPart(): Promise<void> {
    const partNumber = ++this.partNumber;
    if (partNumber > MAX_PARTS) throw new Error(`object ${this.opts.key} would exceed S3's ${MAX_PARTS} parts`);
    const buffer = this.part;
    const body = buffer.subarray(0, this.used);
    this.part = this.spare.pop() ?? takePart(this.opts.partSize) ?? Buffer.allocUnsafeSlow(this.opts.partSize);
    this.used = 0;
    const sent = this.uploadPart(partNumber, body).then(
      () => {
        this.spare.push(buffer);
      },
      (err: unknown) => {
        this.failure ??= err;
        void this.abort();
      },
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
    while (this.inFlight.size >= this.opts.queueSize && !this.failure) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  private async uploadPart(partNumber: number, body: Buffer): Promise<void> {
    this.uploadId ??= this.createUpload();
    // SigV4 signs the payload's SHA-256; the signer takes a hash already in the header.
    // Hashed here, on the event loop: about 7 ms per 8 MiB part. WebCrypto's digest, on the
    // threadpool, copies the part first: 1.23 s of CPU per GB instead of 0.83.
    const hex = createHash('sha256').update(body).digest('hex');
    const uploadId = await this.uploadId;
    const command = new UploadPartCommand({
      Bucket: this.opts.bucket,
      Key: this.opts.key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
    });
    command.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request.headers) request.headers[PAYLOAD_HASH_HEADER] = hex;
        return next(args);
      },
      { step: 'build', name: 'bxPayloadHash' },
    );
    const result = await this.opts.client.send(command, this.sending);
    if (!result.ETag) throw new Error(`S3 answered part ${partNumber} of ${this.opts.key} without an ETag`);
    this.parts.push({
      PartNumber: partNumber,
      ETag: result.ETag,
      ...(result.ChecksumCRC32 && { ChecksumCRC32: result.ChecksumCRC32 }),
      ...(result.ChecksumCRC32C && { ChecksumCRC32C: result.ChecksumCRC32C }),
      ...(result.ChecksumCRC64NVME && { ChecksumCRC64NVME: result.ChecksumCRC64NVME }),
      ...(result.ChecksumSHA1 && { ChecksumSHA1: result.ChecksumSHA1 }),
      ...(result.ChecksumSHA256 && { ChecksumSHA256: result.ChecksumSHA256 }),
    });
  }

  private async createUpload(): Promise<string> {
    // As lib-storage does: parts carry the client's default checksum, so the upload declares it.
    const checksums = await this.opts.client.config.requestChecksumCalculation();
    const { UploadId } = await this.opts.client.send(
      new CreateMultipartUploadCommand({
        ...this.objectParams(),
        ...(checksums === 'WHEN_SUPPORTED' ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}),
      }),
      this.sending,
    );
    if (!UploadId) throw new Error(`S3 opened a multipart upload of ${this.opts.key} without an UploadId`);
    return UploadId;
  }

  private objectParams() {
    return { Bucket: this.opts.bucket, Key: this.opts.key, ContentType: this.opts.contentType, ...this.opts.params };
  }

  /**
   * The current part buffer with room for `size` bytes: the first grows up
   * to a part (unless a free full one is at hand); later ones are full size.
   */
  private reserve(size: number): void {
    if (size <= this.part.length) return;
    const bigger =
      takePart(this.opts.partSize) ??
      Buffer.allocUnsafeSlow(Math.min(this.opts.partSize, Math.max(size, FIRST_BUFFER, this.part.length * 2)));
    this.part.copy(bigger, 0, 0, this.used);
    this.part = bigger;
  }
}
