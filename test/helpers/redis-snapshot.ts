import type { RedisClient } from '@bx/redis';
import { deleteKeysUnder, keysUnder } from './redis-keys';

/**
 * The keys under a prefix as they were at one moment (DUMP), put back later
 * (RESTORE): what Redis holds after a crash that lost the writes made since,
 * as `appendfsync everysec` loses its last second when the machine goes.
 * Only a prefix of the test's own: other tests share the server.
 */
export class RedisSnapshot {
  private saved: Array<{ key: string; ttl: number; value: Buffer }> = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async take(): Promise<void> {
    this.saved = [];
    for (const key of await keysUnder(this.redis, this.prefix)) {
      const [value, ttl] = await Promise.all([this.redis.dumpBuffer(key), this.redis.pttl(key)]);
      if (value) this.saved.push({ key, ttl: Math.max(0, ttl), value });
    }
  }

  /** Every key under the prefix as taken: later ones gone, changed ones back. */
  async restore(): Promise<void> {
    await deleteKeysUnder(this.redis, this.prefix);
    for (const { key, ttl, value } of this.saved) await this.redis.restore(key, ttl, value, 'REPLACE');
  }
}
