import { writeSync } from 'node:fs';
import pino, { type DestinationStream } from 'pino';

/** Longest a log line waits before it is handed to stdout, in ms. */
export const STDOUT_FLUSH_MS = 50;
/** Lines waiting past this many characters go at once (a burst). */
const STDOUT_BATCH_CHARS = 64 * 1024;

/**
 * Stdout for log lines: asynchronous (a line never waits for the pipe: the
 * export loop runs on the same thread), and lines that come within
 * STDOUT_FLUSH_MS of each other written together. Each asynchronous write is
 * a trip to libuv's thread pool and back: 70–100 µs of CPU per line when
 * lines come one at a time, as a busy worker's do (two a tiny run; measured
 * in docs/scaling.md), and a batch of lines costs as much as one.
 *
 * What waits is written by `flushSync` (`flushLogs`, before an explicit
 * exit) and when the process exits.
 */
export class LogStdout implements DestinationStream {
  private readonly out = pino.destination({ dest: 1, sync: false });
  private pending: string[] = [];
  private chars = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor() {
    // pino's own exit hook writes out what the destination holds; this one
    // first hands it the lines still waiting here (whichever runs first).
    process.once('exit', () => {
      try {
        this.flushSync();
      } catch {
        // stdout is gone: nothing left to do.
      }
    });
  }

  write(line: string): void {
    this.pending.push(line);
    this.chars += line.length;
    if (this.chars >= STDOUT_BATCH_CHARS) this.handOver();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.handOver(), STDOUT_FLUSH_MS);
      // A worker with nothing left to do exits; its lines are written at exit.
      this.timer.unref();
    }
  }

  /**
   * Writes every line now, synchronously: what the destination holds, then
   * the lines waiting here, with a write of our own (the destination's
   * flushSync skips while an asynchronous write of its own is under way, and
   * at exit or before process.exit nothing asynchronous finishes).
   */
  flushSync(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.out.flushSync();
    } catch {
      // A write of its own is under way; it finishes or is lost with the process.
    }
    if (this.pending.length === 0) return;
    const text = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.chars = 0;
    writeAllSync(text);
  }

  /** The waiting lines to the destination, as one write. */
  private handOver(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.chars = 0;
    this.out.write(text);
  }
}

/** Writes `data` to stdout synchronously, waiting out a full pipe (EAGAIN) for up to a second. */
function writeAllSync(data: Buffer): void {
  const wait = new Int32Array(new SharedArrayBuffer(4));
  let offset = 0;
  for (let tries = 0; offset < data.length && tries < 1000;) {
    try {
      offset += writeSync(1, data, offset, data.length - offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      tries++;
      Atomics.wait(wait, 0, 0, 1);
    }
  }
}
