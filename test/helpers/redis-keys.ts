import type { RedisClient } from '@bx/redis';
import { Cluster, Redis } from 'ioredis';

/**
 * Every key under `prefix`, on one server or on every master of a Redis
 * Cluster (KEYS and SCAN see only the node they are sent to; a hash-tagged
 * prefix keeps all its keys on one of them, but which one is the slot's).
 */
export async function keysUnder(redis: RedisClient | Redis, prefix: string): Promise<string[]> {
  if (!(redis instanceof Cluster)) return redis.keys(`${escapeGlob(prefix)}:*`);
  const perNode = await Promise.all(redis.nodes('master').map((node) => node.keys(`${escapeGlob(prefix)}:*`)));
  return perNode.flat();
}

/** Deletes every key under `prefix` (tests clean up their own prefix with it). */
export async function deleteKeysUnder(redis: RedisClient | Redis, prefix: string): Promise<number> {
  const keys = await keysUnder(redis, prefix);
  if (redis instanceof Cluster) {
    // One DEL per key: keys of an untagged prefix may sit in different slots.
    await Promise.all(keys.map((key) => redis.del(key)));
  } else {
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
  }
  return keys.length;
}

/** KEYS treats `{`, `}` literally, but `[`, `*`, `?` and `\` are glob syntax. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
