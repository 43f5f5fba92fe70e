import { RunQueue } from '@bx/queue';
import { Store } from '@bx/store';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Runs `fn` on a store and queue of their own prefix, removed afterwards. */
export async function isolated<T>(prefix: string, fn: (store: Store, queue: RunQueue) => Promise<T>): Promise<T> {
  const store = Store.connect(REDIS_URL, prefix);
  const queue = new RunQueue({ redisUrl: REDIS_URL, prefix, attempts: 1, backoffMs: 1000 });
  try {
    return await fn(store, queue);
  } finally {
    await dropAndClose(store, queue, prefix);
  }
}

/** Removes the queue's jobs and every key under `prefix`, then closes both. */
export async function dropAndClose(store: Store, queue: RunQueue, prefix: string): Promise<void> {
  await queue.queue.obliterate({ force: true }).catch(() => undefined);
  const keys = await store.redis.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await store.redis.del(...keys.slice(i, i + 1000));
  await queue.close();
  await store.close();
}
