/** Shared by the zstd thread and its callers (zstd-thread.ts only runs on the thread). */

/** What a thread without the shared page memory answers to compressShared. */
export const NO_SHARED_MEMORY = 'zstd thread: no shared page memory';
