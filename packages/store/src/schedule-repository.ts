import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';
import { callLua, defineLua } from './lua-command';

// Moves the cursor only if nobody moved it since it was read, so two
// schedulers never step an export backwards; the winner sets the next due time.
const ADVANCE = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1])
else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
return 1`;

/**
 * When each export is next due and which interval comes next. The scheduler's
 * work per tick is the due part of a sorted set: it grows with the exports that
 * are due, not with all exports.
 */
export class ScheduleRepository {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
  ) {
    defineLua(redis, 'bxScheduleAdvance', ADVANCE);
  }

  /** Export ids due at or before `now`, most overdue first. */
  async due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.schedule, '-inf', now, 'LIMIT', 0, limit);
  }

  async cursors(ids: readonly string[]): Promise<Array<number | null>> {
    if (ids.length === 0) return [];
    const values = await this.redis.hmget(this.keys.cursor, ...ids);
    return values.map((v) => (v === null ? null : Number(v)));
  }

  async cursor(id: string): Promise<number | null> {
    const [value] = await this.cursors([id]);
    return value ?? null;
  }

  /** Compare-and-set of many cursors in one round trip; returns which moved. */
  async advance(
    moves: ReadonlyArray<{ id: string; from: number; to: number; dueAt: number | null }>,
  ): Promise<boolean[]> {
    if (moves.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const m of moves) {
      callLua(
        pipeline,
        'bxScheduleAdvance',
        2,
        this.keys.cursor,
        this.keys.schedule,
        m.id,
        String(m.from),
        String(m.to),
        m.dueAt === null ? '' : String(m.dueAt),
      );
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, moved]) => {
      if (err) throw err;
      return moved === 1;
    });
  }

  /** Sets the cursor and due time outright (create, unpause, interval change). */
  async set(id: string, cursor: number, dueAt: number | null): Promise<void> {
    const tx = this.redis.multi().hset(this.keys.cursor, id, String(cursor));
    if (dueAt === null) tx.zrem(this.keys.schedule, id);
    else tx.zadd(this.keys.schedule, dueAt, id);
    await tx.exec();
  }

  /** Stops scheduling (pause); the cursor stays so nothing is skipped on unpause. */
  async unschedule(id: string): Promise<void> {
    await this.redis.zrem(this.keys.schedule, id);
  }
}
