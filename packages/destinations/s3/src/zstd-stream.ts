import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { ThreadChannel } from './thread-channel';
import type { ZstdRequest } from './zstd-thread';

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
    // postMessage clones a view's whole ArrayBuffer: send exactly the chunk's bytes.
    const data = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : new Uint8Array(chunk);
    thread.request<Uint8Array[]>({ id: this.id, op: 'write', data }).then((out) => this.pushAll(out, done), done);
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
