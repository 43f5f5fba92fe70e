import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/**
 * gzip that compresses up to `parallel` chunks at once on zlib's threadpool,
 * each as its own gzip member, written in order. Concatenated members are one
 * valid gzip file (RFC 1952 §2.2; gunzip, zlib, Python and DuckDB read them
 * whole), and with chunks of megabytes the restarted 32 KiB window costs
 * nothing measurable. One deflate stream is single-threaded and slower than
 * ClickHouse hands out rows; this uses the idle core.
 */
export class ParallelGzip extends Transform {
  private readonly pending: Array<Promise<Buffer>> = [];

  constructor(
    private readonly level: number,
    private readonly parallel: number,
    writableHighWaterMark: number,
  ) {
    super({ writableHighWaterMark });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const compressed = gzipAsync(chunk, { level: this.level });
    compressed.catch(() => undefined); // awaited in order below; avoids an unhandled rejection meanwhile
    this.pending.push(compressed);
    if (this.pending.length < this.parallel) {
      done();
      return;
    }
    this.pending.shift()!.then((out) => {
      this.push(out);
      done();
    }, done);
  }

  override _flush(done: TransformCallback): void {
    Promise.all(this.pending.splice(0)).then((outs) => {
      for (const out of outs) this.push(out);
      done();
    }, done);
  }
}
