import { ConflictError, type BatchExport, type ExportSecrets } from '@bx/core';
import { callScript, type RedisClient } from '@bx/redis';
import type { StoreKeys } from './keys';
import { storeScripts } from './store-scripts';

/**
 * Tries of one change of an export against concurrent writers. Each lost try
 * means another writer's change landed, so N writers at once need at most N
 * tries; 100 covers any real contention and bounds a bug.
 */
export const EXPORT_WRITE_ATTEMPTS = 100;

/** An export and its stored text: the version a change is made from. */
export interface ExportVersion {
  export: BatchExport;
  text: string;
}

/** A change applied: the version it was made from and the export as it is now. */
export interface ExportChange {
  before: BatchExport;
  /** `before` when nothing was written. */
  after: BatchExport;
  /** False when the change wrote nothing (it returned null). */
  written: boolean;
}

/**
 * Most bytes of stored export text one page of the list reads (4 MiB): a
 * page of 1,000 exports of about 1.5 kB each fits whole; 1,000 exports
 * carrying a 64 KB `ca_cert` answered one request with about 64 MB.
 */
export const EXPORT_PAGE_BYTES = 4 * 1024 * 1024;

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
    storeScripts.define(redis, ['create-export', 'update-export']);
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

  /**
   * A page of exports (of one team, or all), oldest first, after the cursor
   * `after` (a `next` of a page): at most `limit`, and fewer when their
   * stored text would pass `maxBytes` (always at least one). The sizes are
   * read first (STRLEN), so a page stopped early never reads what it leaves.
   */
  async list(opts: { teamId?: number; limit: number; after?: string; maxBytes?: number }): Promise<ExportPage> {
    const key = opts.teamId === undefined ? this.keys.exportIndex : this.keys.teamIndex(opts.teamId);
    const members = await this.redis.zrangebylex(
      key,
      opts.after === undefined ? '-' : `(${opts.after}`,
      '+',
      'LIMIT',
      0,
      opts.limit + 1,
    );
    let page = members.slice(0, opts.limit);
    const maxBytes = opts.maxBytes ?? EXPORT_PAGE_BYTES;
    const sizes = await this.storedSizes(page.map(idOfMember));
    let bytes = 0;
    const fit = sizes.findIndex((size, i) => (bytes += size) > maxBytes && i > 0);
    const more = fit >= 0 || members.length > opts.limit;
    if (fit >= 0) page = page.slice(0, fit);
    const found = (await this.getMany(page.map(idOfMember))).filter((e): e is BatchExport => e !== null);
    return { exports: found, next: more ? page[page.length - 1]! : null };
  }

  /** Bytes of each export's stored text (0 when gone). */
  private async storedSizes(ids: readonly string[]): Promise<number[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.strlen(this.keys.export(id));
    return ((await pipeline.exec()) ?? []).map(([err, size]) => {
      if (err) throw err;
      return Number(size);
    });
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

  /** The export and its stored text, for a change to be written against (modify, ScheduleRepository.setFrom). */
  async read(id: string): Promise<ExportVersion | null> {
    const text = await this.redis.get(this.keys.export(id));
    return text === null ? null : { export: this.parse(text), text };
  }

  /**
   * Applies `change` to the export as stored now and writes the result only if
   * the export is still that version, else applies it again to the new one
   * (bounded: EXPORT_WRITE_ATTEMPTS), so no concurrent writer's change is
   * lost. A paused result leaves the schedule in the same step (the cursor
   * stays). `change` returning null writes nothing; throwing aborts. Null when
   * the export is gone (deleted since, or never was): nothing is written.
   */
  async modify(
    id: string,
    change: (current: BatchExport) => BatchExport | null | Promise<BatchExport | null>,
  ): Promise<ExportChange | null> {
    for (let attempt = 0; attempt < EXPORT_WRITE_ATTEMPTS; attempt++) {
      const version = await this.read(id);
      if (!version) return null;
      const next = await change(version.export);
      if (next === null) return { before: version.export, after: version.export, written: false };
      const text = this.text(next);
      const written = await this.write(id, version.text, text, next.paused);
      if (written === -1) return null;
      if (written === 1) return { before: version.export, after: next, written: true };
    }
    throw concurrentWriters(id);
  }

  /** The export as stored (secrets sealed), for rotate-secrets. */
  async getStored(id: string): Promise<string | null> {
    return this.redis.get(this.keys.export(id));
  }

  /** Replaces the stored export only if it is still `expected`; false when it changed meanwhile or is gone. */
  async replaceStored(id: string, expected: string, exp: BatchExport): Promise<boolean> {
    return (await this.write(id, expected, this.text(exp), exp.paused)) === 1;
  }

  /** 1 written, 0 the export is no longer `expected`, -1 it is gone (lua/update-export.lua). */
  private async write(id: string, expected: string, text: string, paused: boolean): Promise<number> {
    return (await callScript(
      this.redis,
      'update-export',
      [this.keys.export(id), this.keys.pausedExports, this.keys.schedule],
      [expected, text, id, paused ? '1' : '0'],
    )) as number;
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
        ...blocks.map((block) => this.keys.exportedLegacy(id, Number(block))),
        this.keys.reconciliation(id),
        this.keys.reconcileLock(id),
      )
      .hdel(this.keys.exportTotals, `${id}|rows`, `${id}|bytes`)
      .hdel(this.keys.reconcileStats, `${id}|checked`, `${id}|mismatches`, `${id}|late_rows`, `${id}|repairs`)
      .hdel(this.keys.deletingExports, id)
      .exec();
  }
}

/** A change that lost to other writers EXPORT_WRITE_ATTEMPTS times in a row (HTTP 409: try again). */
export function concurrentWriters(id: string): ConflictError {
  return new ConflictError(
    `export ${id} kept changing under ${EXPORT_WRITE_ATTEMPTS} concurrent writes; try again`,
    'concurrent_update',
  );
}

/** `<created ms, 15 digits>:<id>`: lex order is creation order. */
function indexMember(exp: Pick<BatchExport, 'id' | 'created_at'>): string {
  return `${String(Date.parse(exp.created_at)).padStart(15, '0')}:${exp.id}`;
}

function idOfMember(member: string): string {
  return member.slice(member.indexOf(':') + 1);
}
