import type { BatchExport, ExportSecrets } from '@bx/core';
import { callScript, type RedisClient } from '@bx/redis';
import type { StoreKeys } from './keys';
import { storeScripts } from './store-scripts';

/** One page of exports, oldest first; `next` continues after the last one, or null. */
export interface ExportPage {
  exports: BatchExport[];
  next: string | null;
}

/**
 * Export definitions; the schedule of each export lives in ScheduleRepository.
 * Exports are indexed oldest first in a lex-ordered zset (all of them, and per
 * team), so a page costs its size, not the number of exports. With `secrets`,
 * destination secrets are sealed before they are written and opened when
 * read: Redis, its AOF and its backups never hold them in clear.
 */
export class ExportRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
    private readonly secrets: ExportSecrets | null = null,
  ) {
    storeScripts.define(redis, ['create-export', 'replace-if-equal', 'save-export']);
  }

  /** The export as stored: its secrets sealed. */
  private text(exp: BatchExport): string {
    return JSON.stringify(this.secrets ? this.secrets.seal(exp) : exp);
  }

  /** An export from its stored text (another repository's script may read it): its secrets opened. */
  parse(text: string): BatchExport {
    const exp = JSON.parse(text) as BatchExport;
    return this.secrets ? this.secrets.open(exp) : exp;
  }

  /**
   * Stores a new export together with its schedule cursor, atomically, unless
   * `maxExports` are stored already: then false.
   */
  async create(
    exp: BatchExport,
    cursor: number,
    dueAt: number | null,
    maxExports = Number.MAX_SAFE_INTEGER,
  ): Promise<boolean> {
    const created = await callScript(
      this.redis,
      'create-export',
      [
        this.keys.export(exp.id),
        this.keys.exportIndex,
        this.keys.teamIndex(exp.team_id),
        this.keys.cursor,
        this.keys.schedule,
        this.keys.pausedExports,
      ],
      [this.text(exp), indexMember(exp), exp.id, cursor, dueAt ?? '', maxExports, exp.paused ? '1' : '0'],
    );
    return created === 1;
  }

  async get(id: string): Promise<BatchExport | null> {
    const text = await this.redis.get(this.keys.export(id));
    return text ? this.parse(text) : null;
  }

  async getMany(ids: readonly string[]): Promise<Array<BatchExport | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.get(this.keys.export(id));
    return ((await pipeline.exec()) ?? []).map(([err, text]) => {
      if (err) throw err;
      return text ? this.parse(text as string) : null;
    });
  }

  /** A page of exports (of one team, or all), oldest first, after the cursor `after` (a `next` of a page). */
  async list(opts: { teamId?: number; limit: number; after?: string }): Promise<ExportPage> {
    const key = opts.teamId === undefined ? this.keys.exportIndex : this.keys.teamIndex(opts.teamId);
    const members = await this.redis.zrangebylex(
      key,
      opts.after === undefined ? '-' : `(${opts.after}`,
      '+',
      'LIMIT',
      0,
      opts.limit + 1,
    );
    const page = members.slice(0, opts.limit);
    const exports = (await this.getMany(page.map(idOfMember))).filter((e): e is BatchExport => e !== null);
    return { exports, next: members.length > opts.limit ? page[page.length - 1]! : null };
  }

  /** Every export id, oldest first, a page at a time (maintenance, metrics). */
  async *ids(pageSize = 1000): AsyncGenerator<string[]> {
    let after = '-';
    for (;;) {
      const members = await this.redis.zrangebylex(this.keys.exportIndex, after, '+', 'LIMIT', 0, pageSize);
      if (members.length === 0) return;
      yield members.map(idOfMember);
      if (members.length < pageSize) return;
      after = `(${members[members.length - 1]}`;
    }
  }

  async count(): Promise<number> {
    return this.redis.zcard(this.keys.exportIndex);
  }

  /**
   * Saves a changed export; its runs that have not started are held while it
   * is paused. False when the export is gone (deleted since it was read):
   * then nothing is written.
   */
  async save(exp: BatchExport): Promise<boolean> {
    const saved = await callScript(
      this.redis,
      'save-export',
      [this.keys.export(exp.id), this.keys.pausedExports],
      [this.text(exp), exp.id, exp.paused ? '1' : '0'],
    );
    return saved === 1;
  }

  /** The export as stored (secrets sealed), for rotate-secrets. */
  async getStored(id: string): Promise<string | null> {
    return this.redis.get(this.keys.export(id));
  }

  /** Replaces the stored export only if it is still `expected`; false when it changed meanwhile. */
  async replaceStored(id: string, expected: string, exp: BatchExport): Promise<boolean> {
    const replaced = await callScript(
      this.redis,
      'replace-if-equal',
      [this.keys.export(id)],
      [expected, this.text(exp)],
    );
    return replaced === 1;
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

  /**
   * Removes the export from every index and its schedule at once, and
   * records it as being deleted: its runs, logs and other keys are removed in
   * the background (operations/export-janitor.ts), which survives restarts.
   */
  async markDeleted(exp: BatchExport): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.deletingExports, exp.id, this.text(exp))
      .del(this.keys.export(exp.id))
      .zrem(this.keys.exportIndex, indexMember(exp))
      .zrem(this.keys.teamIndex(exp.team_id), indexMember(exp))
      .zrem(this.keys.schedule, exp.id)
      .hdel(this.keys.cursor, exp.id)
      .srem(this.keys.pausedExports, exp.id)
      .exec();
  }

  /** Exports being deleted, oldest first: id and the export as it was. */
  async deleting(limit = 100): Promise<BatchExport[]> {
    const all = await this.redis.hgetall(this.keys.deletingExports);
    return Object.values(all)
      .slice(0, limit)
      .map((text) => this.parse(text));
  }

  /** Deletes what is left of a deleted export's own keys and forgets it. */
  async forgetDeleted(id: string): Promise<void> {
    const blocks = await this.redis.smembers(this.keys.exportedBlocks(id));
    await this.redis
      .multi()
      .del(
        this.keys.failures(id),
        this.keys.alerted(id),
        this.keys.pendingRuns(id),
        this.keys.unfinishedRuns(id),
        this.keys.exportRuns(id),
        this.keys.exportedBlocks(id),
        ...blocks.map((block) => this.keys.exportedBlock(id, Number(block))),
        ...blocks.map((block) => this.keys.exportedBounds(id, Number(block))),
        this.keys.reconciliation(id),
        this.keys.reconcileLock(id),
      )
      .hdel(this.keys.exportTotals, `${id}|rows`, `${id}|bytes`)
      .hdel(this.keys.reconcileStats, `${id}|checked`, `${id}|mismatches`, `${id}|late_rows`, `${id}|repairs`)
      .hdel(this.keys.deletingExports, id)
      .exec();
  }
}

/** `<created ms, 15 digits>:<id>`: lex order is creation order. */
function indexMember(exp: Pick<BatchExport, 'id' | 'created_at'>): string {
  return `${String(Date.parse(exp.created_at)).padStart(15, '0')}:${exp.id}`;
}

function idOfMember(member: string): string {
  return member.slice(member.indexOf(':') + 1);
}
