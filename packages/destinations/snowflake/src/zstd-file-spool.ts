import type { RecordBatch } from '@bx/batch';
import { ZSTD_JSON_LINES, ZstdSlotStream } from '@bx/zstd';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A finished local file, ready to PUT. */
export interface SpooledFile {
  path: string;
  /** File name, e.g. `part-0.jsonl.zst`: the name it gets in the stage. */
  name: string;
  /** Size on disk (compressed). */
  bytes: number;
}

interface OpenFile {
  path: string;
  name: string;
  handle: FileHandle;
  zstd: ZstdSlotStream;
}

/**
 * JSON Lines written to local zstd files one at a time, under a private
 * temporary folder: `part-0.jsonl.zst`, `part-1.jsonl.zst`, ... Each file is
 * one zstd frame, compressed on the zstd thread as the S3 destination's
 * JSON Lines are (the same settings, ZSTD_JSON_LINES): each batch's records
 * are written straight into memory shared with the thread, and its output
 * goes from there to the file. The caller finishes a file when it has
 * `reached` its limit, PUTs it and deletes it, so neither memory nor disk ever
 * hold more than about one file of an interval.
 *
 * Why zstd and not gzip: Snowflake loads both (COPY's COMPRESSION = ZSTD),
 * and gzip at level 6 on the main thread's zlib stream was the slowest path
 * of the product: about a quarter of the zstd export's speed on the benchmark.
 */
export class ZstdFileSpool {
  private dir: string | null = null;
  private current: OpenFile | null = null;
  private count = 0;

  constructor(private readonly parent: string = tmpdir()) {}

  /** Whether the open file has reached `limit` compressed bytes (see ZstdSlotStream.reached). */
  async reached(limit: number): Promise<boolean> {
    return (await this.current?.zstd.reached(limit)) ?? false;
  }

  /** Appends a batch's records to the open file (opening one if needed); resolves when it can take more. */
  async write(batch: RecordBatch): Promise<void> {
    const { zstd } = this.current ?? (await this.open());
    await zstd.writeRecords(batch);
  }

  /** Closes the open file; null when nothing was written since the last one. */
  async finish(): Promise<SpooledFile | null> {
    const file = this.current;
    if (!file) return null;
    this.current = null;
    try {
      await file.zstd.end();
    } finally {
      await file.handle.close();
    }
    return { path: file.path, name: file.name, bytes: file.zstd.written };
  }

  /** Deletes a file once it is staged. */
  async remove(file: SpooledFile): Promise<void> {
    await rm(file.path, { force: true });
  }

  /** Deletes every local file, finished or not. */
  async discard(): Promise<void> {
    const file = this.current;
    this.current = null;
    if (file) {
      file.zstd.destroy();
      await file.handle.close().catch(() => undefined);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private async open(): Promise<OpenFile> {
    this.dir ??= await mkdtemp(join(this.parent, 'bx-snowflake-'));
    const name = `part-${this.count++}.jsonl.zst`;
    const path = join(this.dir, name);
    const handle = await open(path, 'w');
    // The sink writes the thread's output from shared memory straight to the file: nothing is
    // kept once the write resolves, as ZstdSlotStream requires.
    const zstd = new ZstdSlotStream(ZSTD_JSON_LINES, async (chunk) => {
      for (let at = 0; at < chunk.length;) at += (await handle.write(chunk, at)).bytesWritten;
    });
    this.current = { path, name, handle, zstd };
    return this.current;
  }
}
