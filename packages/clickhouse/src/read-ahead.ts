import type { Readable } from 'node:stream';

/**
 * Reads a response ahead of its consumer, up to `limit` bytes: ClickHouse
 * keeps producing while the consumer compresses and uploads, instead of
 * waiting in TCP back-pressure and then making the consumer wait for it. At
 * `limit` the stream is paused, so memory stays bounded.
 */
export class ReadAhead {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly stream: Readable,
    private readonly limit: number,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      if (this.bytes >= this.limit) stream.pause();
      this.notify();
    });
    stream.once('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.once('error', (err) => {
      this.failure ??= err;
      this.notify();
    });
    stream.once('close', () => {
      if (!this.ended) this.failure ??= new Error('the response closed before its end');
      this.notify();
    });
  }

  /** Bytes read and not yet taken. */
  get buffered(): number {
    return this.bytes;
  }

  /**
   * Chunks read so far, in order, about `want` bytes of them (whole chunks;
   * fewer when fewer are there). Waits for at least one; [] at the end.
   */
  async take(want: number): Promise<Buffer[]> {
    while (this.chunks.length === 0) {
      if (this.failure) throw this.failure;
      if (this.ended) return [];
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    let n = 0;
    let size = 0;
    while (n < this.chunks.length && size < want) size += this.chunks[n++]!.length;
    const out = this.chunks.splice(0, n);
    this.bytes -= size;
    if (this.bytes < this.limit && this.stream.isPaused()) this.stream.resume();
    return out;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
