/**
 * Buffers that are the only view of their memory: a consumer that is done
 * with one may transfer its ArrayBuffer to a worker thread instead of
 * copying it (the sender's views then read as empty). Only buffers made by
 * `ownedBuffer` are listed, never a slice of Node's shared pool.
 */
const owned = new WeakSet<ArrayBufferLike>();

/** A new buffer of `size` bytes (uninitialised, outside the pool), listed as owned. */
export function ownedBuffer(size: number): Buffer {
  const b = Buffer.allocUnsafeSlow(size);
  owned.add(b.buffer);
  return b;
}

/** Whether `b`'s memory was made by `ownedBuffer`: nothing but `b` and its sub-views see it. */
export function isOwnedBuffer(b: Uint8Array): boolean {
  return owned.has(b.buffer);
}
