import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { ZstdReply, ZstdRequest } from './zstd-thread';

type Pending = { resolve: (out: Uint8Array[]) => void; reject: (err: Error) => void };

/**
 * The process's zstd compression thread, started on first use. Each stream
 * has at most one request in flight (a Transform handles one chunk at a time),
 * so replies are matched to streams by id alone.
 */
class ZstdThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();

  send(request: ZstdRequest): void {
    this.start().postMessage(request);
  }

  request(request: ZstdRequest): Promise<Uint8Array[]> {
    const worker = this.start();
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      worker.ref();
      worker.postMessage(request);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(join(__dirname, 'zstd-thread.js'));
    worker.unref();
    worker.on('message', (reply: ZstdReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (!waiting) return;
      if ('error' in reply) waiting.reject(new Error(`zstd: ${reply.error}`));
      else waiting.resolve(reply.out);
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`zstd compression thread exited (${code})`)));
    this.worker = worker;
    return worker;
  }
}

const thread = new ZstdThread();
let nextId = 1;

/**
 * A zstd compressor stream whose work runs on the compression thread. The
 * large writable buffer lets the caller prepare the next batch while this one
 * is compressed.
 */
export class ZstdStream extends Transform {
  private readonly id = nextId++;

  constructor(level: number, writableHighWaterMark: number) {
    super({ writableHighWaterMark });
    thread.send({ id: this.id, op: 'open', level });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // postMessage clones a view's whole ArrayBuffer: send exactly the chunk's bytes.
    const data = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : new Uint8Array(chunk);
    thread.request({ id: this.id, op: 'write', data }).then((out) => this.pushAll(out, done), done);
  }

  override _flush(done: TransformCallback): void {
    thread.request({ id: this.id, op: 'end' }).then((out) => this.pushAll(out, done), done);
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    thread.send({ id: this.id, op: 'close' });
    done(err);
  }

  private pushAll(out: Uint8Array[], done: TransformCallback): void {
    for (const piece of out) this.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    done();
  }
}
