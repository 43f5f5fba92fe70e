import { join } from 'node:path';
import { isOwnedBuffer } from '@bx/core';
import { Transform, type TransformCallback } from 'node:stream';
import { ThreadChannel } from './thread-channel';
import type { CompressedFrame, ZstdRequest } from './zstd-thread';

const thread = new ThreadChannel<ZstdRequest>(join(__dirname, 'zstd-thread.js'));

/**
 * A zstd compressor stream whose work runs on the process's zstd thread. The
 * large writable buffer lets the caller prepare the next batch while this one
 * is compressed.
 */
export class ZstdStream extends Transform {
  private readonly id = thread.open();

  constructor(level: number, writableHighWaterMark: number) {
    super({ writableHighWaterMark });
    thread.send({ id: this.id, op: 'open', level });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // An owned chunk's memory is handed over (transferred); any other is copied.
    const data = isOwnedBuffer(chunk) ? chunk : new Uint8Array(chunk);
    thread
      .request<Uint8Array[]>({ id: this.id, op: 'write', data }, [data.buffer as ArrayBuffer])
      .then((out) => this.pushAll(out, done), done);
  }

  override _flush(done: TransformCallback): void {
    thread.request<Uint8Array[]>({ id: this.id, op: 'end' }).then((out) => this.pushAll(out, done), done);
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    thread.send({ id: this.id, op: 'close' });
    thread.close(this.id);
    done(err);
  }

  private pushAll(out: Uint8Array[], done: TransformCallback): void {
    for (const piece of out) this.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    done();
  }
}

/**
 * A compressor of Parquet pages on the zstd thread, one zstd frame each. A
 * page is copied (synchronously: the caller may reuse its buffer at once)
 * into a buffer that travels to the thread and back, so pages make no
 * garbage on either side.
 */
export function zstdFrames(level: number): (page: Uint8Array) => Promise<Buffer> {
  const pool: Uint8Array[] = [];
  return async (page) => {
    let data = pool.pop();
    // With room to spare: a page ends a value past its 1 MiB, and a buffer one byte short would be dropped.
    if (!data || data.length < page.length) data = new Uint8Array(Math.max(page.length, 1 << 20) + (1 << 17));
    data.set(page);
    const id = thread.open();
    try {
      const reply = await thread.request<CompressedFrame>({ id, op: 'compress', level, data, length: page.length }, [
        data.buffer as ArrayBuffer,
      ]);
      if (pool.length < 16) pool.push(reply.data);
      return Buffer.from(reply.frame.buffer, reply.frame.byteOffset, reply.frame.byteLength);
    } finally {
      thread.close(id);
    }
  };
}
