import type { BatchExport } from '@bx/core';
import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';

/** Export definitions; the schedule of each export lives in ScheduleRepository. */
export class ExportRepository {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
  ) {}

  /** Stores a new export together with its schedule cursor, atomically. */
  async create(exp: BatchExport, cursor: number, dueAt: number | null): Promise<void> {
    const tx = this.redis
      .multi()
      .set(this.keys.export(exp.id), JSON.stringify(exp))
      .sadd(this.keys.allExports, exp.id)
      .sadd(this.keys.teamExports(exp.team_id), exp.id)
      .hset(this.keys.cursor, exp.id, String(cursor));
    if (dueAt !== null) tx.zadd(this.keys.schedule, dueAt, exp.id);
    await tx.exec();
  }

  async get(id: string): Promise<BatchExport | null> {
    const text = await this.redis.get(this.keys.export(id));
    return text ? (JSON.parse(text) as BatchExport) : null;
  }

  async getMany(ids: readonly string[]): Promise<Array<BatchExport | null>> {
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.keys.export(id)));
    return texts.map((text) => (text ? (JSON.parse(text) as BatchExport) : null));
  }

  /** Exports of one team, or all, oldest first. */
  async list(teamId?: number): Promise<BatchExport[]> {
    const ids = await this.redis.smembers(teamId === undefined ? this.keys.allExports : this.keys.teamExports(teamId));
    const exports = (await this.getMany(ids)).filter((e): e is BatchExport => e !== null);
    return exports.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  async save(exp: BatchExport): Promise<void> {
    await this.redis.set(this.keys.export(exp.id), JSON.stringify(exp));
  }

  /** Counts one more consecutive failed run; returns the count. */
  async recordFailure(id: string): Promise<number> {
    return this.redis.incr(this.keys.failures(id));
  }

  /** A completed run ends the streak of failures. */
  async resetFailures(id: string): Promise<void> {
    await this.redis.del(this.keys.failures(id));
  }

  /** True once per export per `seconds`: gates alerts. */
  async claimAlert(id: string, seconds: number): Promise<boolean> {
    return (await this.redis.set(this.keys.alerted(id), '1', 'EX', seconds, 'NX')) === 'OK';
  }

  /** Removes the export, its schedule and its metrics; returns the ids of its runs for clean-up. */
  async delete(exp: BatchExport): Promise<string[]> {
    const runIds = await this.redis.zrange(this.keys.exportRuns(exp.id), 0, -1);
    await this.redis
      .multi()
      .del(this.keys.export(exp.id))
      .srem(this.keys.allExports, exp.id)
      .srem(this.keys.teamExports(exp.team_id), exp.id)
      .zrem(this.keys.schedule, exp.id)
      .hdel(this.keys.cursor, exp.id)
      .del(this.keys.failures(exp.id), this.keys.alerted(exp.id))
      .hdel(this.keys.exportTotals, `${exp.id}|rows`, `${exp.id}|bytes`)
      .del(this.keys.pendingRuns(exp.id))
      .exec();
    return runIds;
  }
}
