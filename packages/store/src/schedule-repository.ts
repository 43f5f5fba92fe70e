import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';
import { callLua, defineLua } from './lua-command';

// Moves each cursor only if nobody moved it since it was read, so two
// schedulers never step an export backwards; the winner sets the next due
// time. One call for a batch of exports; answers 1 or 0 per export. ARGV in
// fours: export id, cursor read, new cursor, next due time or ''.
const ADVANCE_MANY = `
local out = {}
for i = 1, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[1], id) ~= ARGV[i + 1] then
    out[#out + 1] = 0
  else
    redis.call('HSET', KEYS[1], id, ARGV[i + 2])
    if ARGV[i + 3] == '' then redis.call('ZREM', KEYS[2], id)
    else redis.call('ZADD', KEYS[2], ARGV[i + 3], id) end
    out[#out + 1] = 1
  end
end
return out`;

/** Cursors per advance script call (a few ms of Redis time). */
const ADVANCE_BATCH = 1000;

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
    defineLua(redis, 'bxScheduleAdvanceMany', ADVANCE_MANY);
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

  /** Compare-and-set of many cursors, one script call per ADVANCE_BATCH; returns which moved. */
  async advance(
    moves: ReadonlyArray<{ id: string; from: number; to: number; dueAt: number | null }>,
  ): Promise<boolean[]> {
    const out: boolean[] = [];
    for (let i = 0; i < moves.length; i += ADVANCE_BATCH) {
      const args = moves
        .slice(i, i + ADVANCE_BATCH)
        .flatMap((m) => [m.id, String(m.from), String(m.to), m.dueAt === null ? '' : String(m.dueAt)]);
      const moved = (await callLua(
        this.redis,
        'bxScheduleAdvanceMany',
        2,
        this.keys.cursor,
        this.keys.schedule,
        ...args,
      )) as number[];
      out.push(...moved.map((m) => m === 1));
    }
    return out;
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
