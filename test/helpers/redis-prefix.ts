import type { BullMqRunQueue } from '@bx/queue';
import type { Store } from '@bx/store';

/** After a test on a prefix of its own: the queue's jobs and every key under `prefix` go, then both close. */
export async function dropStoreAndQueue(store: Store, queue: BullMqRunQueue, prefix: string): Promise<void> {
  await queue.obliterate();
  const keys = await store.redis.keys(`${prefix}:*`);
  for (let i = 0; i < keys.length; i += 1000) await store.redis.del(...keys.slice(i, i + 1000));
  await queue.close();
  await store.close();
}
