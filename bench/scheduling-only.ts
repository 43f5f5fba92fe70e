/** `npx tsx bench/scheduling-only.ts`: the scheduling figures of the benchmark alone (fast to iterate on). */
import { RunQueue } from '@bx/queue';
import { Store } from '@bx/store';
import { backfillAccept, schedulerTick } from './scheduling';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function main(): Promise<void> {
  for (const [label, fn] of [
    ['tick', schedulerTick],
    ['backfill', backfillAccept],
  ] as const) {
    const prefix = `bxsched${Date.now()}`;
    const store = Store.connect(REDIS_URL, prefix);
    const queue = new RunQueue({ redisUrl: REDIS_URL, prefix, attempts: 1, backoffMs: 1000 });
    try {
      console.log(label, JSON.stringify(await fn(store, queue)));
    } finally {
      await queue.queue.obliterate({ force: true });
      const keys = await store.redis.keys(`${prefix}:*`);
      for (let i = 0; i < keys.length; i += 1000) await store.redis.del(...keys.slice(i, i + 1000));
      await queue.close();
      await store.close();
    }
  }
}
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
