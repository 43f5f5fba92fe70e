import type { ZstdStreamParams } from './zstd-protocol';

/**
 * zstd's level for batch exports, JSON Lines and Parquet pages alike: on the
 * benchmark's data its output was no larger than level 3's, and it
 * compressed 100 MB in 0.3 s instead of 1.05 s; a batch export is bound by CPU.
 */
export const ZSTD_LEVEL = 1;

/**
 * JSON Lines zstd (S3 objects and Snowflake's staged files): level 1, tuned
 * for the benchmark's events (554 MB of its records, best of 4, one frame
 * either way):
 * - a 128 KiB window instead of 512 KiB. zstd copies streamed input into a
 *   buffer of window + one block and, each time that buffer wraps,
 *   compresses against the old tail as an external dictionary, its slower
 *   path: with 512 KiB that is 80% of blocks, with 128 KiB half, and the
 *   buffer stays in cache. 341 → 394 MB/s for 0.8% more bytes. Rows of
 *   analytics events repeat within a few KiB, and readers need less memory.
 * - a match finder that skips 3 positions per miss instead of 2, literals
 *   still Huffman-coded: another 12% faster (344 → 387 MB/s on a slower
 *   hour of the machine) for 0.3% more bytes.
 */
export const ZSTD_JSON_LINES: ZstdStreamParams = { level: ZSTD_LEVEL, windowLog: 17, targetLength: 2 };
