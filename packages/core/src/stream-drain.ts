import type { Writable } from 'node:stream';

/**
 * Resolves when `stream` drains or closes (a failed or destroyed stream
 * closes), removing both listeners. Racing 'drain' against a long-lived
 * promise instead leaves a reaction on that promise per wait, with the caller's
 * chunk in its closure, until the promise settles.
 */
export function drainedOrClosed(stream: Writable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
