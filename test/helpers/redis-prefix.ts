import type { BullMqRunQueue } from '@bx/queue';
import type { Store } from '@bx/store';
import { deleteKeysUnder } from './redis-keys';

/** After a test on a prefix of its own: the queue's jobs and every key under `prefix` go, then both close. */
export async function dropStoreAndQueue(store: Store, queue: BullMqRunQueue, prefix: string): Promise<void> {
  await queue.obliterate();
  await deleteKeysUnder(store.redis, prefix);
  await queue.close();
  await store.close();
}
