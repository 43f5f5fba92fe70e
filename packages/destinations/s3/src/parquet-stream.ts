import { SLOTS, type EventBatch } from '@bx/core';
import { join } from 'node:path';
import type { ParquetCompression } from './parquet-encoder';
import type { ParquetProgress, ParquetRequest } from './parquet-thread';
import { ThreadChannel } from './thread-channel';

const thread = new ThreadChannel<ParquetRequest>(join(__dirname, 'parquet-thread.js'), {
  maxYoungGenerationSizeMb: 6,
  maxOldGenerationSizeMb: 128,
});

/**
 * One Parquet file encoded on the process's Parquet thread. A batch is copied
 * to the thread and encoded there while the caller reads the next one; at
 * most one batch is in flight. The file's bytes come back in order and go to
 * `sink` (the upload); the thread waits for each to be taken.
 */
export class ParquetStream {
  private readonly id: number;
  private inFlight: Promise<unknown> = Promise.resolve();
  private uploading: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  /** Bytes of the file handed to the sink, as of the last finished write. */
  bytes = 0;
  /** Bytes of the batch being encoded: an upper bound of what it adds, with the format's overhead. */
  private pending = 0;

  constructor(compression: ParquetCompression, sink: (chunk: Buffer) => Promise<void>) {
    this.id = thread.open((body) => {
      const piece = body as Uint8Array;
      this.uploading = this.uploading
        .then(() => sink(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)))
        .catch((err: unknown) => {
          this.failure ??= err;
        })
        // Acknowledged even when the upload failed: the thread must not wait forever.
        .then(() => thread.send({ id: this.id, op: 'ack' }));
    });
    thread.send({ id: this.id, op: 'open', compression });
  }

  async write(batch: EventBatch): Promise<void> {
    await this.settle();
    // Exact copies, transferred: the batch's buffer may be shared with the source's next bytes.
    const bytes = new Uint8Array(batch.bytes);
    const index = batch.index.slice(0, batch.count * SLOTS);
    this.pending = bytes.length + batch.count * 64;
    this.inFlight = thread
      .request<ParquetProgress>({ id: this.id, op: 'write', bytes, index, count: batch.count }, [
        bytes.buffer,
        index.buffer,
      ])
      .then((p) => {
        this.bytes = p.bytes;
        this.pending = 0;
      });
  }

  /** Whether the file has reached `limit` bytes; waits for the batch in flight only if it could decide it. */
  async reached(limit: number): Promise<boolean> {
    if (this.bytes + this.pending >= limit) await this.settle();
    return this.bytes >= limit;
  }

  /** Encodes the last row group and the footer; resolves when the sink has every byte. */
  async finish(): Promise<void> {
    await this.settle();
    const p = await thread.request<ParquetProgress>({ id: this.id, op: 'finish' });
    this.bytes = p.bytes;
    await this.uploading;
    this.check();
  }

  close(): void {
    thread.send({ id: this.id, op: 'close' });
    thread.close(this.id);
  }

  private async settle(): Promise<void> {
    await this.inFlight;
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
