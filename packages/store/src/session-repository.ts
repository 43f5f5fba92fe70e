import type { RedisClient } from '@bx/redis';
import type { StoreKeys } from './keys';

/** What the server keeps about one admin login. */
export interface AdminSessionRecord {
  /** Token that forms of this session must send back (CSRF). */
  csrf: string;
  /** HMAC of the admin token the session was opened with: a new token ends every session. */
  token_mac: string;
  /** Epoch ms at which the session ends. */
  expires_at: number;
}

/**
 * Admin sessions, kept under the SHA-256 of their id: whoever reads Redis
 * learns no cookie that would open a session. Redis expires each one.
 */
export class SessionRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
  ) {}

  async create(idHash: string, record: AdminSessionRecord, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.keys.adminSession(idHash), JSON.stringify(record), 'EX', ttlSeconds);
  }

  async get(idHash: string): Promise<AdminSessionRecord | null> {
    const value = await this.redis.get(this.keys.adminSession(idHash));
    return value === null ? null : (JSON.parse(value) as AdminSessionRecord);
  }

  async delete(idHash: string): Promise<void> {
    await this.redis.del(this.keys.adminSession(idHash));
  }
}
