import type { BatchExport, ExportSecrets } from '@bx/core';
import type { Redis } from 'ioredis';
import type { StoreKeys } from './keys';
import { callLua, defineLua } from './lua-command';

const REPLACE_IF_EQUAL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/**
 * Export definitions; the schedule of each export lives in ScheduleRepository.
 * With `secrets`, destination secrets are sealed before they are written and
 * opened when read: Redis, its AOF and its backups never hold them in clear.
 */
export class ExportRepository {
  constructor(
    private readonly redis: Redis,
    private readonly keys: StoreKeys,
    private readonly secrets: ExportSecrets | null = null,
  ) {
    defineLua(redis, 'bxReplaceIfEqual', REPLACE_IF_EQUAL);
  }

  private text(exp: BatchExport): string {
    return JSON.stringify(this.secrets ? this.secrets.seal(exp) : exp);
  }

  private parse(text: string): BatchExport {
    const exp = JSON.parse(text) as BatchExport;
    return this.secrets ? this.secrets.open(exp) : exp;
  }

  /** Stores a new export together with its schedule cursor, atomically. */
  async create(exp: BatchExport, cursor: number, dueAt: number | null): Promise<void> {
    const tx = this.redis
      .multi()
      .set(this.keys.export(exp.id), this.text(exp))
      .sadd(this.keys.allExports, exp.id)
      .sadd(this.keys.teamExports(exp.team_id), exp.id)
      .hset(this.keys.cursor, exp.id, String(cursor));
    if (dueAt !== null) tx.zadd(this.keys.schedule, dueAt, exp.id);
    await tx.exec();
  }

  async get(id: string): Promise<BatchExport | null> {
    const text = await this.redis.get(this.keys.export(id));
    return text ? this.parse(text) : null;
  }

  async getMany(ids: readonly string[]): Promise<Array<BatchExport | null>> {
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.keys.export(id)));
    return texts.map((text) => (text ? this.parse(text) : null));
  }

  /** Exports of one team, or all, oldest first. */
  async list(teamId?: number): Promise<BatchExport[]> {
    const ids = await this.redis.smembers(teamId === undefined ? this.keys.allExports : this.keys.teamExports(teamId));
    const exports = (await this.getMany(ids)).filter((e): e is BatchExport => e !== null);
    return exports.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  async save(exp: BatchExport): Promise<void> {
    await this.redis.set(this.keys.export(exp.id), this.text(exp));
  }

  /** The export as stored (secrets sealed), for rotate-secrets. */
  async getStored(id: string): Promise<string | null> {
    return this.redis.get(this.keys.export(id));
  }

  /** Replaces the stored export only if it is still `expected`; false when it changed meanwhile. */
  async replaceStored(id: string, expected: string, exp: BatchExport): Promise<boolean> {
    return (await callLua(this.redis, 'bxReplaceIfEqual', 1, this.keys.export(id), expected, this.text(exp))) === 1;
  }

  /** Ids of every export. */
  async ids(): Promise<string[]> {
    return this.redis.smembers(this.keys.allExports);
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
