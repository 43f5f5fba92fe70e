import { BullMqRunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { dropStoreAndQueue } from '../test/helpers/redis-prefix';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Runs `fn` on a store and queue of their own prefix, removed afterwards. */
export async function isolated<T>(prefix: string, fn: (store: Store, queue: BullMqRunQueue) => Promise<T>): Promise<T> {
  const store = Store.connect(REDIS_URL, prefix);
  const queue = new BullMqRunQueue({ redis: { url: REDIS_URL }, prefix, attempts: 1, backoffMs: 1000 });
  try {
    return await fn(store, queue);
  } finally {
    await dropStoreAndQueue(store, queue, prefix);
  }
}
