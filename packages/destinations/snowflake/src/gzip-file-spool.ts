import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drainedOrClosed } from '@bx/core';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';

/** Fast enough to keep up with ClickHouse, still a good ratio. */
export const GZIP_LEVEL = 6;

/** A finished local file, ready to PUT. */
export interface SpooledFile {
  path: string;
  /** File name, e.g. `part-0.jsonl.gz`: the name it gets in the stage. */
  name: string;
  /** Size on disk (compressed). */
  bytes: number;
}

interface OpenFile {
  path: string;
  name: string;
  gzip: Gzip;
  /** Resolves when the file is fully on disk; rejects on a write error. */
  written: Promise<void>;
  failure: unknown;
}

/**
 * JSON Lines written to local gzip files one at a time, under a private
 * temporary folder: `part-0.jsonl.gz`, `part-1.jsonl.gz`, ... The caller
 * finishes a file when `bytes` reaches its limit, PUTs it and deletes it, so
 * neither memory nor disk ever hold more than about one file of an interval.
 */
export class GzipFileSpool {
  private dir: string | null = null;
  private current: OpenFile | null = null;
  private count = 0;
  private compressed = 0;

  constructor(private readonly parent: string = tmpdir()) {}

  /** Compressed bytes of the open file produced so far (gzip holds back a little until finished). */
  get bytes(): number {
    return this.compressed;
  }

  /** Appends records to the open file (opening one if needed); resolves when it can take more. */
  async write(text: string | Buffer): Promise<void> {
    const file = this.current ?? (await this.open());
    if (file.failure) throw file.failure;
    if (!file.gzip.write(text)) {
      await drainedOrClosed(file.gzip);
      // Closed by a failure: the pipeline's outcome records it.
      if (file.gzip.destroyed) await file.written.catch(() => undefined);
      if (file.failure) throw file.failure;
    }
  }

  /** Closes the open file; null when nothing was written since the last one. */
  async finish(): Promise<SpooledFile | null> {
    const file = this.current;
    if (!file) return null;
    this.current = null;
    file.gzip.end();
    await file.written;
    return { path: file.path, name: file.name, bytes: (await stat(file.path)).size };
  }

  /** Deletes a file once it is staged. */
  async remove(file: SpooledFile): Promise<void> {
    await rm(file.path, { force: true });
  }

  /** Deletes every local file, finished or not. */
  async discard(): Promise<void> {
    this.current?.gzip.destroy();
    await this.current?.written.catch(() => undefined);
    this.current = null;
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  private async open(): Promise<OpenFile> {
    this.dir ??= await mkdtemp(join(this.parent, 'bx-snowflake-'));
    const name = `part-${this.count++}.jsonl.gz`;
    const path = join(this.dir, name);
    const gzip = createGzip({ level: GZIP_LEVEL });
    this.compressed = 0;
    gzip.on('data', (chunk: Buffer) => (this.compressed += chunk.length));
    const file: OpenFile = { path, name, gzip, written: Promise.resolve(), failure: null };
    file.written = pipeline(gzip, createWriteStream(path)).catch((err: unknown) => {
      file.failure = err;
      throw err;
    });
    // Observed through `failure` and finish(); an unobserved rejection must not crash the process.
    file.written.catch(() => undefined);
    this.current = file;
    return file;
  }
}
