/**
 * Column pages and chunk buffers handed from one Parquet file to the next.
 * Fresh ones per file (eleven pages of 1 MiB, and chunks grown by doubling
 * to a row group's compressed column) were new memory for the kernel to map
 * page by page. A Parquet+zstd run of 1.9M 400-byte rows, the worker's
 * minor page faults per run from the third on: 1,700-6,800 without these
 * kept, 700-1,200 with them (its main thread 0.83-0.91 s, then 0.81-0.82 s).
 */

/** Free buffers kept of each kind: a file's columns (events have eleven). */
const KEPT = 12;

const pages: Buffer[] = [];
const chunks: Buffer[] = [];

/** A page buffer of `size` bytes (every page buffer has the same), free or new. */
export function takePage(size: number): Buffer {
  const at = pages.findIndex((b) => b.length === size);
  return at < 0 ? Buffer.allocUnsafe(size) : pages.splice(at, 1)[0]!;
}

/** The smallest free chunk buffer of at least `size` bytes, if one is kept (the large ones stay for large columns). */
export function takeChunk(size: number): Buffer | undefined {
  let at = -1;
  chunks.forEach((b, i) => {
    if (b.length >= size && (at < 0 || b.length < chunks[at]!.length)) at = i;
  });
  return at < 0 ? undefined : chunks.splice(at, 1)[0];
}

/** A finished file's column buffers, for the next file (a page of another size than `pageSize` is not kept). */
export function giveColumnBuffers(page: Buffer, pageSize: number, chunk: Buffer): void {
  if (page.length === pageSize && pages.length < KEPT && !pages.includes(page)) pages.push(page);
  if (chunk.length > 0 && chunks.length < KEPT && !chunks.includes(chunk)) chunks.push(chunk);
}

/** Free buffers kept (tests). */
export function freeColumnBuffers(): { pages: number; chunks: number } {
  return { pages: pages.length, chunks: chunks.length };
}
