/** Shared by the zstd thread and its callers (zstd-thread.ts only runs on the thread). */

/** What a thread without the shared page memory answers to compressShared. */
export const NO_SHARED_MEMORY = 'zstd thread: no shared page memory';

/** How a zstd stream (one frame compressed slot by slot) is set up. */
export interface ZstdStreamParams {
  level: number;
  /** log2 of the frame's window. */
  windowLog: number;
  /**
   * Level 1's match finder skips ahead `targetLength + 1` positions per miss
   * (0: zstd's default). Literals stay Huffman-coded whatever it is (zstd
   * would stop compressing them once it is set).
   */
  targetLength: number;
}
