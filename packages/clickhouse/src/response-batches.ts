import { performance } from 'node:perf_hooks';
import type { BufferPool, PooledBuffer } from './buffer-pool';
import { EVENTS_FORMAT, type BatchFormat, type EventBatch, type RecordBatch } from '@bx/batch';
import { ChunkedBody } from './chunked-body';
import { decodeRowBinary, frameRows } from './row-binary-frames';

export interface ResponseBatchesOptions<B extends RecordBatch = EventBatch> {
  /** Bytes of rows per batch. */
  batchBytes: number;
  /** Bytes read and not yet taken at which reading pauses. */
  readAheadBytes: number;
  /**
   * Whether a batch's memory is reused once the next batch is taken: the
   * taker is done with a batch, and with any view of its bytes, by then.
   * Fresh memory per batch made V8 collect its old generation every few
   * dozen MB of batches, as it does for any external memory it sees grow.
   */
  reuseBuffers?: boolean;
  /**
   * Where standard-size buffers come from and, with `reuseBuffers`, go back
   * to on `release()`: shared by the queries of one source.
   */
  pool?: BufferPool;
  /**
   * The model's rows (their columns' wire forms, binary where its layout
   * says, and the batch that holds them). Default: events, all text.
   */
  format?: BatchFormat<B>;
}

/** What the connection lets the reader do to it. */
export interface ResponseFlow {
  /** Reading may go on (after `received` answered false). */
  resume(): void;
  /** The response is over (ended or failed): the connection may go. */
  close(): void;
}

/** ClickHouse answered with an HTTP error: its text, and the exception code it sent along. */
export class ClickHouseHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ClickHouseHttpError';
  }
}

/** Room kept free for a socket read beyond a batch's bytes. */
const READ_ROOM = 256 * 1024;
/** The status line and headers may not take more. */
const MAX_HEAD = 64 * 1024;
/** An error answer's text kept at most. */
const MAX_ERROR_TEXT = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * A ClickHouse HTTP response to a `FORMAT RowBinary` query, read straight
 * into batch buffers: the connection reads into `room()` (a socket with
 * `onread` has the kernel write there) and reports with `received(n)`.
 * The status line and headers are parsed in place, the chunked body decoded
 * in place, and every `batchBytes` or so the complete rows are framed into
 * a batch of the model's format over the buffer, which is then left to that batch. Nothing
 * is allocated or copied per socket read, unlike Node's HTTP client, which
 * allocates a buffer for each read and copies each piece of body out of it.
 *
 * Reading stops `readAheadBytes` ahead of the batches taken (back-pressure)
 * and goes on as they are taken; a row larger than that is read to its end.
 */
export class ResponseBatches<B extends RecordBatch = EventBatch> {
  private buf: Buffer;
  /** The index `buf`'s rows are framed into: it goes with `buf`, to its batch and back to the spares. */
  private index: Int32Array | undefined;
  /** Bytes of `buf` in use: the head so far, then the body data decoded so far. */
  private filled = 0;
  /** Data bytes at which the rows are framed: a batch, or more for a row larger than one. */
  private threshold: number;
  /** Bytes of a batch buffer, unless a row larger than a batch needs more. */
  private readonly standardSize: number;
  private head = true;
  private status = 0;
  private code: string | undefined;
  private body: BodyReader | null = null;
  private readonly ready: Array<{ batch: B; memory: BatchMemory }> = [];
  /**
   * Standard-size buffers free for reuse, and the one under the batch taken
   * last, each with its index: a new index per batch (a copy of the rows'
   * part of one) cost the main thread about 0.1 s per 1.9M rows of 400
   * bytes, most of it page faults on the new memory.
   */
  private readonly spare: BatchMemory[] = [];
  private lent: BatchMemory | null = null;
  private readyBytes = 0;
  /** When bytes of the answer (head included) last arrived, on the monotonic clock: ClickHouse is still sending. */
  private lastRead = performance.now();
  private paused = false;
  private ended = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;
  private readonly format: BatchFormat<B>;
  /** Called once the status line and headers are in. */
  onHead: () => void = () => undefined;

  constructor(
    private readonly opts: ResponseBatchesOptions<B>,
    private readonly flow: ResponseFlow,
  ) {
    this.format = opts.format ?? (EVENTS_FORMAT as unknown as BatchFormat<B>);
    this.threshold = opts.batchBytes;
    this.standardSize = opts.batchBytes + READ_ROOM;
    const first = opts.pool?.take(this.standardSize);
    this.buf = first?.buf ?? Buffer.allocUnsafeSlow(this.standardSize);
    this.index = first?.index;
  }

  /** Where the next bytes read go (at least READ_ROOM bytes). */
  room(): Buffer {
    return this.buf.subarray(this.filled);
  }

  /**
   * `n` bytes were read into `room()`. Answers whether reading may go on:
   * false once `readAheadBytes` are waiting to be taken (then `flow.resume()`
   * is called when they are), or when the response is over.
   */
  received(n: number): boolean {
    if (this.ended || this.failure) return false;
    this.lastRead = performance.now();
    try {
      let from = this.filled;
      let to = from + n;
      if (this.head) {
        this.filled = to;
        const end = this.buf.subarray(0, to).indexOf(HEAD_END, Math.max(0, from - 3));
        if (end < 0) {
          if (to > MAX_HEAD) throw new Error(`response headers larger than ${MAX_HEAD} bytes`);
          return true;
        }
        this.readHead(this.buf.toString('latin1', 0, end));
        // The body's first bytes move to the start: batches begin at byte 0.
        this.buf.copyWithin(0, end + 4, to);
        from = 0;
        to -= end + 4;
      }
      this.filled = this.body!.decode(this.buf, from, to);
      if (this.body!.done) this.finish();
      else if (this.status !== 200) this.keepErrorText();
      else if (this.filled >= this.threshold) this.frame();
    } catch (err) {
      this.fail(err);
      return false;
    }
    if (this.ended) return false;
    if (this.aheadOfReader) this.paused = true;
    return !this.paused;
  }

  /** Copies `chunk` in (a stream that delivers its own buffers: TLS). Answers as `received`. */
  push(chunk: Uint8Array): boolean {
    let reading = true;
    for (let at = 0; at < chunk.length && !this.ended && !this.failure;) {
      const room = this.room();
      const n = Math.min(room.length, chunk.length - at);
      room.set(chunk.subarray(at, at + n));
      at += n;
      reading = this.received(n);
    }
    return reading && !this.ended && !this.failure;
  }

  /** Whether the response was read to its end (not failed, not cancelled): its connection may serve another. */
  get complete(): boolean {
    return this.ended && !this.failure;
  }

  /** The connection ended (the peer closed it). */
  closed(): void {
    if (this.ended || this.failure) return;
    if (this.body?.untilClose && this.status === 200) return this.finish();
    if (this.body?.untilClose) return this.fail(this.httpError());
    this.fail(
      new Error(
        this.head ? 'ClickHouse closed the connection without an answer' : 'the response closed before its end',
      ),
    );
  }

  /** Ends the response with `err` (taken by the next `take`) and lets the connection go. */
  fail(err: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = err;
    this.flow.close();
    this.notify();
  }

  /** Stops reading (the reader is done with the response, early or not). */
  cancel(): void {
    this.fail(new Error('query cancelled by its reader'));
  }

  /**
   * The reader is done with every batch (and the response is over or
   * cancelled): with `reuseBuffers`, the buffers go back to the pool.
   */
  release(): void {
    const pool = this.opts.pool;
    if (!pool || !this.opts.reuseBuffers || !(this.ended || this.failure)) return;
    const memories = [{ buf: this.buf, index: this.index }, ...this.spare, ...this.ready.map((r) => r.memory)];
    if (this.lent) memories.push(this.lent);
    this.ready.length = 0;
    this.spare.length = 0;
    this.lent = null;
    for (const memory of memories) if (memory.buf.length === this.standardSize) pool.give(memory);
  }

  /** The next batch; null after the last. Rejects once the response failed. */
  async take(): Promise<B | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.lent && this.opts.reuseBuffers && this.lent.buf.length === this.standardSize) this.spare.push(this.lent);
      this.lent = null;
      const next = this.ready.shift();
      if (next) {
        const { batch, memory } = next;
        this.lent = memory;
        this.readyBytes -= batch.bytes.length;
        if (this.paused && !this.aheadOfReader) {
          this.paused = false;
          this.flow.resume();
        }
        return batch;
      }
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** When bytes of the answer (status line and headers included) last arrived, `performance.now()` ms. */
  get lastReadAt(): number {
    return this.lastRead;
  }

  /** Bytes read and not yet taken. */
  get buffered(): number {
    return this.readyBytes + this.filled;
  }

  /**
   * Whether reading waits for the reader: `readAheadBytes` are read and not
   * taken, and a batch is there to take. A row larger than `readAheadBytes`
   * alone is read on to its end: with no batch ready, the reader could never
   * take one, and the query would hang.
   */
  private get aheadOfReader(): boolean {
    return this.ready.length > 0 && this.buffered >= this.opts.readAheadBytes;
  }

  private readHead(text: string): void {
    const [statusLine = '', ...lines] = text.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine.slice(0, 80))}`);
    this.status = Number(status[1]);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    this.code = headers.get('x-clickhouse-exception-code');
    const encoding = headers.get('transfer-encoding')?.toLowerCase();
    const length = headers.get('content-length');
    if (encoding === 'chunked') this.body = chunkedBody();
    else if (encoding) throw new Error(`unsupported transfer encoding ${encoding}`);
    else if (length !== undefined && /^\d+$/.test(length)) this.body = lengthBody(Number(length));
    else this.body = untilCloseBody();
    if (headers.get('content-encoding'))
      throw new Error(`unexpected content encoding ${headers.get('content-encoding')}`);
    this.head = false;
    this.onHead();
  }

  /** An error answer's text is kept up to MAX_ERROR_TEXT bytes, and the rest read past. */
  private keepErrorText(): void {
    if (this.filled > MAX_ERROR_TEXT) this.filled = MAX_ERROR_TEXT;
  }

  private httpError(): ClickHouseHttpError {
    const text = this.buf.toString('utf8', 0, Math.min(this.filled, MAX_ERROR_TEXT)).trim();
    return new ClickHouseHttpError(text || `HTTP ${this.status}`, this.status, this.code);
  }

  /** Frames the complete rows in the buffer into a batch; the rest starts the next buffer. */
  private frame(): void {
    const frames = frameRows(this.buf.subarray(0, this.filled), this.format, this.index);
    this.index = frames.index;
    // Bytes the next row needs, from its start.
    this.threshold = Math.max(this.opts.batchBytes, frames.need - frames.used);
    if (frames.count > 0) this.add(this.format.batch(this.buf.subarray(0, frames.used), frames.index, frames.count));
    if (frames.count === 0 && this.buf.length - frames.used >= this.threshold + READ_ROOM) return;
    const size = this.threshold + READ_ROOM;
    const next: BatchMemory = (size === this.standardSize && (this.spare.pop() ?? this.opts.pool?.take(size))) || {
      buf: Buffer.allocUnsafeSlow(size),
    };
    this.buf.copy(next.buf, 0, frames.used, this.filled);
    this.buf = next.buf;
    this.index = next.index;
    this.filled -= frames.used;
    if (frames.count > 0) this.notify();
  }

  private finish(): void {
    if (this.status !== 200) return this.fail(this.httpError());
    if (this.filled > 0) {
      const rest = this.buf.subarray(0, this.filled);
      let batch: B;
      try {
        batch = decodeRowBinary(rest, this.format);
      } catch (err) {
        return this.fail(err);
      }
      if (batch.count > 0) this.add(batch);
      this.filled = 0;
    }
    this.ended = true;
    this.flow.close();
    this.notify();
  }

  private add(batch: B): void {
    this.ready.push({ batch, memory: { buf: this.buf, index: batch.index } });
    this.readyBytes += batch.bytes.length;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** A batch buffer and the index its rows were framed into, reused together. */
type BatchMemory = PooledBuffer;

/** How the body's end is known; `decode` turns the bytes read at `[from, to)` into data ending where it answers. */
interface BodyReader {
  decode(buf: Buffer, from: number, to: number): number;
  readonly done: boolean;
  readonly untilClose: boolean;
}

function chunkedBody(): BodyReader {
  const chunked = new ChunkedBody();
  return {
    decode: (buf, from, to) => chunked.decode(buf, from, from, to),
    get done() {
      return chunked.done;
    },
    untilClose: false,
  };
}

function lengthBody(length: number): BodyReader {
  let left = length;
  return {
    decode: (_buf, from, to) => {
      const n = Math.min(left, to - from);
      left -= n;
      return from + n;
    },
    get done() {
      return left === 0;
    },
    untilClose: false,
  };
}

function untilCloseBody(): BodyReader {
  return { decode: (_buf, _from, to) => to, done: false, untilClose: true };
}
