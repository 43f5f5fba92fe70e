import { callScript, type RedisClient } from '@bx/redis';
import type { StoreKeys } from './keys';
import { storeScripts } from './store-scripts';

/** Cursors per advance script call (a few ms of Redis time). */
const ADVANCE_BATCH = 1000;

/**
 * When each export is next due and which interval comes next. The scheduler's
 * work per tick is the due part of a sorted set: it grows with the exports that
 * are due, not with all exports.
 */
export class ScheduleRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
  ) {
    storeScripts.define(redis, ['advance-schedule', 'schedule-export', 'unschedule-export']);
  }

  /** Notes that a change about to schedule `id` from its stored cursor is under way (see keys.keepCursor). */
  async markKeepCursor(id: string): Promise<void> {
    await this.redis.set(this.keys.keepCursor(id), '1', 'PX', 86_400_000);
  }

  async clearKeepCursor(id: string): Promise<void> {
    await this.redis.del(this.keys.keepCursor(id));
  }

  /** Whether a change that meant to schedule `id` from its stored cursor may have been cut short. */
  async keepsCursor(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.keepCursor(id))) === 1;
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

  /**
   * Per export: whether it is on the schedule and whether it is paused, in one
   * round trip (StrandedRepair looks for exports neither paused nor scheduled).
   */
  async onSchedule(ids: readonly string[]): Promise<Array<{ scheduled: boolean; paused: boolean }>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.zscore(this.keys.schedule, id).sismember(this.keys.pausedExports, id);
    const replies = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [[scoreErr, score], [pausedErr, paused]] = [replies[2 * i]!, replies[2 * i + 1]!];
      if (scoreErr) throw scoreErr;
      if (pausedErr) throw pausedErr;
      return { scheduled: score !== null, paused: Number(paused) === 1 };
    });
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
      const moved = (await callScript(
        this.redis,
        'advance-schedule',
        [this.keys.cursor, this.keys.schedule],
        args,
      )) as number[];
      out.push(...moved.map((m) => m === 1));
    }
    return out;
  }

  /** Sets the cursor and due time outright (tests); a change of an export goes through setFrom. */
  async set(id: string, cursor: number, dueAt: number | null): Promise<void> {
    const tx = this.redis.multi().hset(this.keys.cursor, id, String(cursor));
    if (dueAt === null) tx.zrem(this.keys.schedule, id);
    else tx.zadd(this.keys.schedule, dueAt, id);
    await tx.exec();
  }

  /**
   * Sets the cursor and due time computed from one version of the export (its
   * stored text) and of its cursor, only if both are still those and the
   * export is not paused: 1 set, 0 either changed (compute again), -1 the
   * export is gone or paused (nothing to schedule).
   */
  async setFrom(
    id: string,
    exportText: string,
    cursorRead: number | null,
    cursor: number,
    dueAt: number | null,
  ): Promise<1 | 0 | -1> {
    return (await callScript(
      this.redis,
      'schedule-export',
      [this.keys.export(id), this.keys.pausedExports, this.keys.cursor, this.keys.schedule],
      [
        exportText,
        id,
        cursorRead === null ? '' : String(cursorRead),
        String(cursor),
        dueAt === null ? '' : String(dueAt),
      ],
    )) as 1 | 0 | -1;
  }

  /**
   * Stops scheduling an export that is gone, paused or without a cursor as it
   * is stored now (the cursor stays, so nothing is skipped on unpause); one
   * unpaused since the caller read it stays scheduled. True when taken off.
   */
  async unschedule(id: string): Promise<boolean> {
    const removed = await callScript(
      this.redis,
      'unschedule-export',
      [this.keys.export(id), this.keys.pausedExports, this.keys.cursor, this.keys.schedule],
      [id],
    );
    return removed === 1;
  }
}
