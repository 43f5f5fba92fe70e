import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';
import { callLua, defineLua } from './lua-command';

// Moves each cursor only if nobody moved it since it was read, so two
// schedulers never step an export backwards; the winner sets the next due
// time. One call for a batch of exports, one command per kind of write for
// all of them; answers 1 or 0 per export. ARGV in fours: export id, cursor
// read, new cursor, next due time or ''. An export named twice moves once.
const ADVANCE_MANY = `
local ids = {}
for i = 1, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
local current = redis.call('HMGET', KEYS[1], unpack(ids))
local out, cursors, due, done = {}, {}, {}, {}
local undue = {}
for k, id in ipairs(ids) do
  local i = 4 * k - 3
  if current[k] ~= ARGV[i + 1] or done[id] then
    out[k] = 0
  else
    done[id] = true
    cursors[#cursors + 1] = id
    cursors[#cursors + 1] = ARGV[i + 2]
    if ARGV[i + 3] == '' then undue[#undue + 1] = id
    else
      due[#due + 1] = ARGV[i + 3]
      due[#due + 1] = id
    end
    out[k] = 1
  end
end
if #cursors > 0 then redis.call('HSET', KEYS[1], unpack(cursors)) end
if #due > 0 then redis.call('ZADD', KEYS[2], unpack(due)) end
if #undue > 0 then redis.call('ZREM', KEYS[2], unpack(undue)) end
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
