/**
 * Batch buffers handed from one query to the next. A query's first buffer is
 * a batch plus read room (2.25 MiB), however few rows it answers: allocated
 * fresh per query, a worker running 50 tiny runs a second grew V8's external
 * memory by 110 MB/s, and the collections that follows took 65% of its busy
 * CPU (2,000 tiny queries, 16 at a time: 7.0 ms of worker CPU per query; with
 * the pool 2.3 ms, see docs/scaling.md). Buffers come back only from readers
 * that promised to keep no view of a batch once done (`reuseBuffers`).
 * A buffer's frame index goes with it: a new one per query (grown by
 * doubling to a batch's rows) was, with the buffers, new memory for the
 * kernel to map on first touch (page faults of the framing, on 400-byte rows).
 */
export class BufferPool {
  private readonly free: PooledBuffer[] = [];

  /** `max`: free buffers kept at most; more are left to the collector. */
  constructor(private readonly max: number) {}

  /** A free buffer of exactly `size` bytes (and its index, if it had one), if one is kept. */
  take(size: number): PooledBuffer | undefined {
    const at = this.free.findIndex((m) => m.buf.length === size);
    return at < 0 ? undefined : this.free.splice(at, 1)[0];
  }

  give(memory: PooledBuffer): void {
    if (this.free.length < this.max && !this.free.some((m) => m.buf === memory.buf)) this.free.push(memory);
  }

  /** Buffers kept now. */
  get size(): number {
    return this.free.length;
  }
}

/** A batch buffer and the index its rows were framed into, reused together. */
export interface PooledBuffer {
  buf: Buffer;
  index?: Int32Array;
}
