/**
 * Batch buffers handed from one query to the next. A query's first buffer is
 * a batch plus read room (2.25 MiB), however few rows it answers: allocated
 * fresh per query, a worker running 50 tiny runs a second grew V8's external
 * memory by 110 MB/s, and the collections that follows took 65% of its busy
 * CPU (2,000 tiny queries, 16 at a time: 7.0 ms of worker CPU per query; with
 * the pool 2.3 ms, see docs/scaling.md). Buffers come back only from readers
 * that promised to keep no view of a batch once done (`reuseBuffers`).
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  /** `max`: free buffers kept at most; more are left to the collector. */
  constructor(private readonly max: number) {}

  /** A free buffer of exactly `size` bytes, if one is kept. */
  take(size: number): Buffer | undefined {
    const at = this.free.findIndex((b) => b.length === size);
    return at < 0 ? undefined : this.free.splice(at, 1)[0];
  }

  give(buf: Buffer): void {
    if (this.free.length < this.max && !this.free.includes(buf)) this.free.push(buf);
  }

  /** Buffers kept now. */
  get size(): number {
    return this.free.length;
  }
}
