import * as native from '@bx/native';
import { join } from 'node:path';
import { isOwnedBuffer } from '@bx/core';
import { Transform, type TransformCallback } from 'node:stream';
import { ThreadChannel } from './thread-channel';
import { NO_SHARED_MEMORY } from './zstd-protocol';
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
 * Page slots in memory shared with the zstd thread, one set for the process:
 * a page is copied into a slot and compressed into the slot's output, so
 * nothing is allocated or transferred per page. Buffers that travelled to
 * the thread and back counted as new memory on each return, and made V8
 * collect the old generation every few pages' worth.
 */
class PageSlots {
  readonly inputBytes = PAGE_SLOT;
  // zstd's compressBound: the input, 1/256 more, and a little.
  readonly outputBytes = PAGE_SLOT + (PAGE_SLOT >> 8) + 1024;
  private memory: SharedArrayBuffer | null = null;
  /** Whether the thread may lack the memory (first use, or a restarted thread): send it along. */
  private send = true;
  private readonly free = Array.from({ length: PAGE_SLOTS }, (_, i) => i);

  /** Compresses `page` (copied now) in a free slot; null when none is free or the page is larger than a slot. */
  compress(level: number, page: Uint8Array): Promise<Buffer> | null {
    if (page.length > this.inputBytes) return null;
    const slot = this.free.pop();
    if (slot === undefined) return null;
    this.memory ??= new SharedArrayBuffer(PAGE_SLOTS * (this.inputBytes + this.outputBytes));
    const input = slot * (this.inputBytes + this.outputBytes);
    const output = input + this.inputBytes;
    native.copy(new Uint8Array(this.memory, input, page.length), 0, page);
    return this.request(level, input, page.length, output).finally(() => this.free.push(slot));
  }

  private async request(level: number, input: number, length: number, output: number): Promise<Buffer> {
    const memory = this.memory!;
    const ask = async (withMemory: boolean) => {
      const id = thread.open();
      try {
        return await thread.request<number>({
          id,
          op: 'compressShared',
          level,
          ...(withMemory ? { memory } : {}),
          input,
          length,
          output,
          capacity: this.outputBytes,
        });
      } finally {
        thread.close(id);
      }
    };
    let size: number;
    try {
      const withMemory = this.send;
      this.send = false;
      size = await ask(withMemory);
    } catch (err) {
      if ((err as Error).message !== NO_SHARED_MEMORY) throw err;
      size = await ask(true);
    }
    // A copy: the slot is free again at once.
    const frame = Buffer.allocUnsafe(size);
    native.copy(frame, 0, new Uint8Array(memory, output, size));
    return frame;
  }
}

/** A page's most bytes (a page ends a value past 1 MiB) and slots: a few Parquet files' pages in flight. */
const PAGE_SLOT = (1 << 20) + (1 << 17);
const PAGE_SLOTS = 8;
const pageSlots = new PageSlots();

/**
 * A compressor of Parquet pages on the zstd thread, one zstd frame each. A
 * page is copied at once (the caller may reuse its buffer) into a shared
 * slot; a page larger than a slot, or one that finds every slot taken,
 * travels in a buffer of its own.
 */
export function zstdFrames(level: number): (page: Uint8Array) => Promise<Buffer> {
  return async (page) => {
    const inSlot = pageSlots.compress(level, page);
    if (inSlot) return inSlot;
    const data = new Uint8Array(page);
    const id = thread.open();
    try {
      const frame = await thread.request<Uint8Array>({ id, op: 'compress', level, data }, [data.buffer as ArrayBuffer]);
      return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    } finally {
      thread.close(id);
    }
  };
}
