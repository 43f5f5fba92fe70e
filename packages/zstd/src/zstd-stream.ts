import * as native from '@bx/native';
import { join } from 'node:path';
import { ThreadChannel } from './thread-channel';
import { NO_SHARED_MEMORY, type ZstdStreamParams } from './zstd-protocol';
import type { ZstdRequest } from './zstd-thread';

const thread = new ThreadChannel<ZstdRequest>(join(__dirname, 'zstd-thread.js'));

/**
 * Stops the process's zstd thread as a crash would (the tests' way to kill
 * it): streams with requests in flight fail, and so does any later request
 * of a stream the old thread had opened ("not open"); runs retry those. New
 * streams and pages start a new thread.
 */
export function terminateZstdThread(): Promise<void> {
  return thread.terminate();
}

/** Rows that write their JSON Lines records themselves (a RecordBatch). */
export interface RecordRows {
  readonly count: number;
  /** Records of rows `from`.. written into `target` from its start, as many as fit: the next row, the bytes. */
  recordsInto(target: Uint8Array, from: number): { next: number; bytes: number };
  /** Records of rows `from`.. in a buffer of their own. */
  records(from: number): Uint8Array;
}

/** Input bytes of a stream's slot: a source batch's records (about 2.4 MB) with room to spare. */
const STREAM_SLOT = 4 * 1024 * 1024;
/**
 * Output bytes of a stream's slot: zstd's bound for the input plus the block
 * (128 KiB) the context may hold from earlier input, with room to spare.
 */
const STREAM_SLOT_OUTPUT = STREAM_SLOT + (STREAM_SLOT >> 7) + 512 * 1024;
/** Slots of a stream: one is filled while the other is compressed. */
const STREAM_SLOTS = 2;
/** Streams' memory kept free for the next streams (17 MiB each). */
const POOLED_MEMORY = 2;
/**
 * Memory of streams that ended, for the next ones. Fresh memory per stream
 * (per file) was mapped by the kernel page by page as the records and the
 * compressed output were first written into it: about 4,300 page faults per
 * file, on the main thread and the zstd thread.
 */
const freeMemory: SharedArrayBuffer[] = [];

/** Streams' memory kept free for the next streams (tests). */
export function freeStreamMemory(): number {
  return freeMemory.length;
}
/** Input a frame's context may hold uncompressed: a block (the window is 128 KiB). */
const HELD_BYTES = 128 * 1024;
/**
 * Output bytes per input byte of data that does not compress, at most:
 * zstd falls back to stored blocks (3 bytes a 128 KiB block). Rounded up.
 */
const INCOMPRESSIBLE = 1.01;

/**
 * One zstd frame, compressed on the process's zstd thread from memory shared
 * with it: the caller writes input straight into a slot (the records of a
 * batch), the thread compresses the slot into the slot's output, and `sink`
 * takes the output from there. While one slot is compressed the next is
 * filled. Nothing is allocated, copied to the thread or transferred per
 * batch: buffers that travelled to the thread and back counted as new
 * memory, and V8 collected its old generation for them.
 *
 * `sink` must copy what it keeps before its promise settles (PartUpload
 * does): the slot is reused then.
 */
export class ZstdSlotStream {
  /** Compressed bytes the sink has taken. */
  written = 0;
  /** Input bytes given to the thread whose output the sink has not taken yet. */
  pending = 0;
  private readonly stream = thread.open();
  private memory: SharedArrayBuffer | null = null;
  private readonly free = Array.from({ length: STREAM_SLOTS }, (_, i) => i);
  private readonly waiting: Array<() => void> = [];
  /** Settles once the sink has taken every output so far (never rejects: see `failure`). */
  private delivered: Promise<void> = Promise.resolve();
  /** Per slot being compressed, oldest first: settles once the sink has taken its output (never rejects). */
  private readonly inFlight: Array<Promise<void>> = [];
  private failure: unknown = null;
  /** Whether the frame has ended (its memory may be another stream's now). */
  private ended = false;

  constructor(
    private readonly params: ZstdStreamParams,
    private readonly sink: (chunk: Uint8Array) => Promise<void>,
  ) {}

  /**
   * Lets `fill` write input into a free slot (waiting for one: back-pressure)
   * and compresses what it wrote. `fill` answers the bytes it wrote, or -1
   * when its input does not fit: then nothing is compressed and this
   * answers false.
   */
  async write(fill: (input: Uint8Array) => number): Promise<boolean> {
    const slot = await this.slot();
    const n = fill(new Uint8Array(this.memory!, slot * SLOT_SPAN, STREAM_SLOT));
    if (n < 0) {
      this.release(slot);
      return false;
    }
    this.compress(slot, n, false);
    return true;
  }

  /**
   * Compresses the JSON Lines records of a batch, written straight into
   * slots as many rows at a time as fit; the rest of a batch from a row
   * larger than a slot on is written by `records` and copied in.
   */
  async writeRecords(rows: RecordRows): Promise<void> {
    for (let from = 0; from < rows.count;) {
      let next = from;
      await this.write((input) => {
        const written = rows.recordsInto(input, from);
        next = written.next;
        return next > from ? written.bytes : -1;
      });
      if (next === from) return this.writeBytes(rows.records(from));
      from = next;
    }
  }

  /** Compresses `bytes`, copied into slots a slot's worth at a time. */
  async writeBytes(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += STREAM_SLOT) {
      const piece = bytes.subarray(at, at + STREAM_SLOT);
      await this.write((input) => {
        native.copy(input, 0, piece);
        return piece.length;
      });
    }
  }

  /**
   * At least the bytes the frame would have if ended now: the output the
   * sink has taken, and the input whose output is not known yet (with the
   * block the context may hold) counted as if it did not compress. What a
   * file size limit measures; tight after `settleBelow`.
   */
  upperBytes(): number {
    return this.written + (this.pending + HELD_BYTES) * INCOMPRESSIBLE;
  }

  /**
   * Waits for the output of the oldest slots, one at a time, until
   * `upperBytes()` is below `limit` or every write's output is known: the
   * slots after those keep compressing meanwhile. Rejects if the stream failed.
   */
  async settleBelow(limit: number): Promise<void> {
    while (this.inFlight.length > 0 && this.upperBytes() >= limit) await this.inFlight[0];
    if (this.failure) throw this.failure;
  }

  /**
   * Whether the sink has taken `limit` bytes of output (what splitting files
   * measures). The input in flight is waited for only when it could reach
   * the limit: compressed bytes are at most about the input's.
   */
  async reached(limit: number): Promise<boolean> {
    if (this.written >= limit) return true;
    if (this.written + this.pending < limit) return false;
    await this.flushed();
    return this.written >= limit;
  }

  /** Resolves once the sink has taken the output of every write so far; rejects if any failed. */
  async flushed(): Promise<void> {
    await this.delivered;
    if (this.failure) throw this.failure;
  }

  /** Ends the frame; resolves once the sink has taken all of it. */
  async end(): Promise<void> {
    this.compress(await this.slot(), 0, true);
    this.ended = true;
    await this.flushed();
    // Every request has answered: the memory is the next stream's (a failed one keeps it).
    if (this.memory && freeMemory.length < POOLED_MEMORY) freeMemory.push(this.memory);
    this.memory = null;
  }

  /** Abandons the frame: waiting and later writes fail, and the thread drops the context. */
  destroy(): void {
    this.fail(new Error('zstd stream closed'));
    if (this.memory) thread.send({ id: this.stream, op: 'close' });
    thread.close(this.stream);
  }

  private async slot(): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.ended) throw new Error('zstd stream ended');
      if (!this.memory) {
        this.memory = freeMemory.pop() ?? new SharedArrayBuffer(STREAM_SLOTS * SLOT_SPAN);
        thread.send({ id: this.stream, op: 'open', params: this.params, memory: this.memory });
      }
      const slot = this.free.pop();
      if (slot !== undefined) return slot;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(slot: number): void {
    this.free.push(slot);
    this.waiting.shift()?.();
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** Compresses slot `slot`'s first `length` bytes; its output goes to the sink after every earlier one. */
  private compress(slot: number, length: number, end: boolean): void {
    const memory = this.memory!;
    const input = slot * SLOT_SPAN;
    const output = input + STREAM_SLOT;
    this.pending += length;
    // A request id of its own: two slots of the stream are in flight at once.
    // The thread handles them in the order sent.
    const id = thread.open();
    const compressed = thread
      .request<number>({
        id,
        op: 'compressSlot',
        stream: this.stream,
        input,
        length,
        output,
        capacity: STREAM_SLOT_OUTPUT,
        end,
      })
      .finally(() => thread.close(id));
    const delivered = Promise.all([compressed, this.delivered])
      .then(async ([size]) => {
        if (this.failure) throw this.failure;
        if (size > 0) await this.sink(new Uint8Array(memory, output, size));
        this.written += size;
      })
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.pending -= length;
        this.inFlight.shift(); // this slot's: outputs are delivered in order
        this.release(slot);
      });
    this.delivered = delivered;
    this.inFlight.push(delivered);
  }
}

/** A stream slot: its input, then its output. */
const SLOT_SPAN = STREAM_SLOT + STREAM_SLOT_OUTPUT;

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

  /**
   * Compresses `page` (copied now) in a free slot, whose output is lent to
   * the caller until it releases it; null when no slot is free or the page
   * is larger than a slot.
   */
  compress(params: ZstdStreamParams, page: Uint8Array): Promise<LentFrame> | null {
    if (page.length > this.inputBytes) return null;
    const slot = this.free.pop();
    if (slot === undefined) return null;
    this.memory ??= new SharedArrayBuffer(PAGE_SLOTS * (this.inputBytes + this.outputBytes));
    const input = slot * (this.inputBytes + this.outputBytes);
    const output = input + this.inputBytes;
    native.copy(new Uint8Array(this.memory, input, page.length), 0, page);
    let released = false;
    const release = () => {
      if (!released) this.free.push(slot);
      released = true;
    };
    return this.request(params, input, page.length, output).then(
      (bytes) => ({ bytes, release }),
      (err: unknown) => {
        release();
        throw err;
      },
    );
  }

  /** Compresses a slot's input into its output; answers a view of the frame there. */
  private async request(params: ZstdStreamParams, input: number, length: number, output: number): Promise<Uint8Array> {
    const memory = this.memory!;
    const ask = async (withMemory: boolean) => {
      const id = thread.open();
      try {
        return await thread.request<number>({
          id,
          op: 'compressShared',
          params,
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
    return new Uint8Array(memory, output, size);
  }
}

/**
 * A compressed page in a shared slot, lent: the slot is taken until
 * `release()`. The Parquet writer copies the frame straight into its column
 * chunk and releases it; a copy of each frame into a buffer of its own
 * first, as before, cost an allocation and a copy per page (985 MB of
 * frames for the benchmark's default interval).
 */
export interface LentFrame {
  bytes: Uint8Array;
  release(): void;
}

/**
 * A page's most bytes (a page ends a value past 1 MiB) and slots: a few
 * Parquet files' pages in flight. A row group's end hands every column's
 * open page over at once (11 for events): with 8 slots, 105 of a file's 488
 * pages on 1.9M 400-byte rows (60 MB) found none free and travelled in
 * buffers of their own. With 16, none did; the Parquet file's CPU in
 * bench/data-path-cpu.ts (main and zstd threads, 7 alternating rounds of
 * 2, a busy machine) fell from a median 1.44 s (1.32-1.75) to 1.35 s
 * (1.21-1.66), the main thread's from 0.53 s to 0.50 s. The 8 more slots
 * are 18 MiB of shared memory, touched only when used.
 */
const PAGE_SLOT = (1 << 20) + (1 << 17);
export const PAGE_SLOTS = 16;
const pageSlots = new PageSlots();

/**
 * A compressor of Parquet pages on the zstd thread, one zstd frame each. A
 * page is copied at once (the caller may reuse its buffer) into a shared
 * slot, and its frame is lent from there (LentFrame: the caller releases
 * it); a page larger than a slot, or one that finds every slot taken,
 * travels in a buffer of its own and comes back as one.
 */
export function zstdFrames(params: ZstdStreamParams): (page: Uint8Array) => Promise<Uint8Array | LentFrame> {
  return async (page) => {
    const inSlot = pageSlots.compress(params, page);
    if (inSlot) return inSlot;
    const data = new Uint8Array(page);
    const id = thread.open();
    try {
      const frame = await thread.request<Uint8Array>({ id, op: 'compress', params, data }, [
        data.buffer as ArrayBuffer,
      ]);
      return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    } finally {
      thread.close(id);
    }
  };
}
