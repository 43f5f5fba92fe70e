import { callScript, type RedisClient } from '@bx/redis';
import { randomBytes } from 'node:crypto';
import type { StoreKeys } from './keys';
import { storeScripts } from './store-scripts';

/**
 * A backfill as stored: a range and a cursor, not a run per interval. Runs
 * are created a window ahead of the workers (operations/backfill-pump.ts);
 * the counters move when its runs reach a final status (lua/includes/track.lua).
 */
export interface BackfillRecord {
  id: string;
  export_id: string;
  /** Start of its first interval and end of its last, ISO 8601. */
  start_at: string;
  end_at: string;
  force: boolean;
  /** Intervals in the range. */
  total_runs: number;
  created_at: string;
  /** Start (epoch ms) of the next interval to start or skip. */
  cursor: number;
  /** Every interval is started or skipped. */
  started_all: boolean;
  cancelled: boolean;
  /** Intervals this backfill brought to Completed, Failed or Cancelled (never-started ones at cancel included). */
  finished_runs: number;
  failed_runs: number;
  cancelled_runs: number;
  /** Intervals not exported by it: already exported, or in progress elsewhere. */
  skipped_runs: number;
  /** Rows of the runs it completed. */
  records_completed: number;
  /** When its last interval finished (epoch ms), or null. */
  finished_ms: number | null;
}

export type NewBackfill = Pick<
  BackfillRecord,
  'id' | 'export_id' | 'start_at' | 'end_at' | 'force' | 'total_runs' | 'created_at' | 'cursor'
>;

/**
 * How long a backfill's step lock lasts without renewal, in ms: the step's
 * process renews it every third of that while it works, so a scheduler killed
 * mid-step (the lock left behind) holds the backfill up this long at most, not
 * the minute a fixed lock long enough for any step would.
 */
const STEP_LOCK_MS = 6_000;

/**
 * Most open runs the repair settles at once: a backfill stuck after a torn
 * write has a few (the runs whose finish was cut); one with more is still running.
 */
const SETTLE_MAX_OPEN = 100;

/**
 * Every how many passes a waiting backfill that did not change is settled
 * again: the pass after it was first seen unchanged, then each RECHECK_EVERY
 * th (a tear that changes none of its counters, as a finish cut before its
 * first counter, is counted within that many passes).
 */
const RECHECK_EVERY = 10;

/** Backfills of the settling set, or of an export, read per round trip. */
const PAGE = 500;

/**
 * What the stranded-run repair saw of a waiting backfill on its last pass
 * (settleWaiting): its open runs and counters, and for how many passes in a
 * row they had not changed.
 */
export interface SettleSeen {
  mark: string;
  unchanged: number;
}

export class BackfillRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
  ) {
    storeScripts.define(redis, [
      'advance-backfill',
      'cancel-backfill',
      'release-lock',
      'extend-lock',
      'settle-backfill',
    ]);
  }

  async create(record: NewBackfill): Promise<void> {
    const created = Date.parse(record.created_at);
    await this.redis
      .multi()
      .hset(this.keys.backfill(record.id), {
        ...record,
        force: record.force ? '1' : '0',
        total_runs: String(record.total_runs),
        cursor: String(record.cursor),
      })
      .zadd(this.keys.exportBackfills(record.export_id), created, record.id)
      .zadd(this.keys.activeBackfills, created, record.id)
      .exec();
  }

  /** The backfill as stored: a read only (what a torn write left is settled by settleWaiting()). */
  async get(id: string): Promise<BackfillRecord | null> {
    const h = await this.redis.hgetall(this.keys.backfill(id));
    if (!h.id) return null;
    const n = (v: string | undefined) => Number(v ?? 0);
    return {
      id: h.id,
      export_id: h.export_id!,
      start_at: h.start_at!,
      end_at: h.end_at!,
      force: h.force === '1',
      total_runs: n(h.total_runs),
      created_at: h.created_at!,
      cursor: n(h.cursor),
      started_all: h.started_all === '1',
      cancelled: h.cancelled === '1',
      finished_runs: n(h.finished_runs),
      failed_runs: n(h.failed_runs),
      cancelled_runs: n(h.cancelled_runs),
      skipped_runs: n(h.skipped_runs),
      records_completed: n(h.records_completed),
      finished_ms: h.finished_ms ? Number(h.finished_ms) : null,
    };
  }

  /**
   * The stranded-run repair's part for backfills: of those that started
   * their last interval and wait for open runs (the settling set, a page of
   * PAGE at a time, read in pipelines), the suspects (suspects()) are settled
   * (settle()), and those finished or gone leave the set. `seen` is what the
   * repair's previous pass saw, replaced by what this one sees. A backfill
   * whose settle fails is passed to `failed`, and the others are settled all
   * the same. Answers how many backfills it changed.
   */
  async settleWaiting(
    now: number,
    seen: Map<string, SettleSeen>,
    failed: (id: string, err: unknown) => void,
  ): Promise<number> {
    const last = new Map(seen);
    seen.clear();
    let changed = 0;
    for (let from = 0; ;) {
      const ids = await this.redis.zrange(this.keys.settlingBackfills, from, from + PAGE - 1);
      const { done, suspects } = await this.suspects(ids, last, seen, failed);
      for (const id of suspects) {
        try {
          // A backfill settle() finished leaves the set on the next pass.
          if (await this.settle(id, now)) changed++;
        } catch (err) {
          failed(id, err);
        }
      }
      if (done.length) await this.redis.zrem(this.keys.settlingBackfills, ...done);
      if (ids.length < PAGE) return changed;
      from += PAGE - done.length;
    }
  }

  /**
   * Of waiting backfills, those finished or gone (`done`), and those that a
   * torn write may hold (`suspects`): with no open run; with more open runs
   * than their export has unfinished runs (a run open for a backfill is
   * unfinished, unless a tear left it final, and the repair took it out of
   * that index); or whose open runs and counters did not move since the
   * previous pass (`last`; `seen` gets what is seen now), so a backfill in
   * its normal tail costs no script. Two round trips, whatever the page
   * holds. One whose keys cannot be read is passed to `failed`.
   */
  private async suspects(
    ids: readonly string[],
    last: ReadonlyMap<string, SettleSeen>,
    seen: Map<string, SettleSeen>,
    failed: (id: string, err: unknown) => void,
  ): Promise<{ done: string[]; suspects: string[] }> {
    const replies = await this.pipelined(ids, (read, id) =>
      read
        .hmget(this.keys.backfill(id), 'id', 'finished_ms', 'finished_runs', 'skipped_runs', 'export_id')
        .zcard(this.keys.backfillOpen(id)),
    );
    const done: string[] = [];
    const suspects: string[] = [];
    const moving: { id: string; exportId: string }[] = [];
    for (const [i, id] of ids.entries()) {
      const error = [replies[2 * i], replies[2 * i + 1]].find((reply) => reply instanceof Error);
      if (error) {
        failed(id, error);
        continue;
      }
      const [exists, finished, finishedRuns, skipped, exportId] = replies[2 * i] as (string | null)[];
      const open = replies[2 * i + 1] as number;
      if (!exists || finished) {
        done.push(id);
        continue;
      }
      const mark = `${open} ${finishedRuns ?? 0} ${skipped ?? 0}`;
      const before = last.get(id);
      const unchanged = before?.mark === mark ? before.unchanged + 1 : 0;
      seen.set(id, { mark, unchanged });
      if (open === 0 || (open <= SETTLE_MAX_OPEN && unchanged % RECHECK_EVERY === 1)) suspects.push(id);
      else if (open <= SETTLE_MAX_OPEN) moving.push({ id, exportId: exportId ?? '' });
    }
    // The export's unfinished runs read before the open ones: a run finishing in between is not counted as torn.
    const counts = await this.pipelined(moving, (read, b) =>
      read.zcard(this.keys.unfinishedRuns(b.exportId)).zcard(this.keys.backfillOpen(b.id)),
    );
    for (const [i, b] of moving.entries()) {
      const [unfinished, open] = [counts[2 * i], counts[2 * i + 1]];
      if (unfinished instanceof Error || open instanceof Error)
        failed(b.id, unfinished instanceof Error ? unfinished : open);
      else if ((open as number) > (unfinished as number)) suspects.push(b.id);
    }
    return { done, suspects };
  }

  /** Runs `add` for each item in one pipeline; answers the replies in order, an error as its Error. */
  private async pipelined<T>(
    items: readonly T[],
    add: (read: ReturnType<RedisClient['pipeline']>, item: T) => unknown,
  ): Promise<unknown[]> {
    if (items.length === 0) return [];
    const read = this.redis.pipeline();
    for (const item of items) add(read, item);
    return ((await read.exec()) ?? []).map(([err, v]) => err ?? v);
  }

  /** Whether every backfill stored before the settling set was put in it (enrollWaiting(), once per store). */
  async enrolled(): Promise<boolean> {
    return (await this.redis.exists(this.keys.backfillsEnrolled)) === 1;
  }

  /** Marks the walk of enrollWaiting() over every export done (at `now`, epoch ms). */
  async markEnrolled(now: number): Promise<void> {
    await this.redis.set(this.keys.backfillsEnrolled, String(now));
  }

  /**
   * Puts in the settling set the exports' backfills that started every
   * interval and have not finished: those whose last step ran a version
   * without that set (a rolling upgrade). Run over every export once, by the
   * stranded-run repair. Answers how many it added.
   */
  async enrollWaiting(exportIds: readonly string[], now: number): Promise<number> {
    const lists = this.redis.pipeline();
    for (const id of exportIds) lists.zrange(this.keys.exportBackfills(id), 0, -1);
    // A key of the wrong type (written by hand, or torn) is skipped: the walk must get through every export.
    const ids = ((await lists.exec()) ?? []).flatMap(([err, v]) => (err ? [] : (v as string[])));
    let added = 0;
    for (let i = 0; i < ids.length; i += PAGE) {
      const page = ids.slice(i, i + PAGE);
      const read = this.redis.pipeline();
      for (const id of page) read.hmget(this.keys.backfill(id), 'started_all', 'finished_ms');
      const waiting = ((await read.exec()) ?? []).flatMap(([err, v], k) => {
        if (err) return [];
        const [startedAll, finished] = v as [string | null, string | null];
        return startedAll === '1' && !finished ? [now, page[k]!] : [];
      });
      if (waiting.length) added += await this.redis.zadd(this.keys.settlingBackfills, 'NX', ...waiting);
    }
    return added;
  }

  /**
   * Counts the backfill's runs that are final yet still open for it (lua/
   * settle-backfill.lua: only a torn write leaves one so), and finishes it
   * if nothing else is left; true when it changed anything. Its open runs
   * (at most SETTLE_MAX_OPEN, the caller checked) are read in one call.
   */
  private async settle(id: string, now: number): Promise<boolean> {
    const open = await this.redis.zrange(this.keys.backfillOpen(id), 0, -1);
    const answer = await callScript(
      this.redis,
      'settle-backfill',
      [this.keys.backfill(id), this.keys.backfillOpen(id), ...open.map((run) => this.keys.run(run))],
      [now, id, ...open],
    );
    return Number(answer) > 0 || open.length === 0;
  }

  /** Backfills with intervals still to start, oldest first. */
  async active(limit: number): Promise<string[]> {
    return this.redis.zrange(this.keys.activeBackfills, 0, limit - 1);
  }

  /** An export's backfills, newest first. */
  async ofExport(exportId: string, limit = 1000): Promise<string[]> {
    return this.redis.zrevrange(this.keys.exportBackfills(exportId), 0, limit - 1);
  }

  /** How many of its runs are open (started, not final). */
  async openCount(id: string): Promise<number> {
    return this.redis.zcard(this.keys.backfillOpen(id));
  }

  /** Takes the lock of a backfill's next step; returns a release function, or null when another holds it. */
  async lock(id: string): Promise<(() => Promise<void>) | null> {
    const token = randomBytes(8).toString('hex');
    const key = this.keys.backfillLock(id);
    if ((await this.redis.set(key, token, 'PX', STEP_LOCK_MS, 'NX')) !== 'OK') return null;
    const renew = setInterval(() => {
      callScript(this.redis, 'extend-lock', [key], [token, STEP_LOCK_MS]).catch(() => undefined);
    }, STEP_LOCK_MS / 3);
    renew.unref();
    return async () => {
      clearInterval(renew);
      await callScript(this.redis, 'release-lock', [key], [token]);
    };
  }

  /** Compare-and-set of the cursor, with the intervals the step skipped; false if it moved meanwhile. */
  async advance(
    id: string,
    move: { from: number; to: number; skipped: number; startedAll: boolean },
    now = Date.now(),
  ): Promise<boolean> {
    const moved = await callScript(
      this.redis,
      'advance-backfill',
      [this.keys.backfill(id), this.keys.backfillOpen(id), this.keys.activeBackfills, this.keys.settlingBackfills],
      [move.from, move.to, move.skipped, move.startedAll ? '1' : '0', now],
    );
    return moved === 1;
  }

  /**
   * Marks a backfill cancelled, counting `neverStarted` intervals (from
   * `cursor` on) as cancelled; returns its open runs (to cancel one by one),
   * null when it had already finished, or 'moved' when its cursor is no
   * longer `cursor` (a step ran meanwhile: nothing changed, count again).
   */
  async cancel(
    id: string,
    count: { neverStarted: number; cursor: number },
    now = Date.now(),
  ): Promise<string[] | null | 'moved'> {
    const open = await callScript(
      this.redis,
      'cancel-backfill',
      [this.keys.backfill(id), this.keys.backfillOpen(id), this.keys.activeBackfills, this.keys.settlingBackfills],
      [count.neverStarted, now, count.cursor],
    );
    if (open === 'moved') return 'moved';
    return Array.isArray(open) ? (open as string[]) : null;
  }

  /**
   * Removes one backfill of an export that is gone: its record, written after the export's
   * clean-up (created as the export was deleted), would otherwise stay active for good.
   */
  async forget(id: string, exportId: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.backfill(id), this.keys.backfillOpen(id))
      .zrem(this.keys.activeBackfills, id)
      .zrem(this.keys.exportBackfills(exportId), id)
      .exec();
  }

  /** Removes every backfill of an export (its deletion). */
  async deleteOfExport(exportId: string): Promise<void> {
    const ids = await this.redis.zrange(this.keys.exportBackfills(exportId), 0, -1);
    for (let i = 0; i < ids.length; i += 500) {
      const tx = this.redis.multi();
      for (const id of ids.slice(i, i + 500)) {
        tx.del(this.keys.backfill(id), this.keys.backfillOpen(id), this.keys.backfillLock(id));
        tx.zrem(this.keys.activeBackfills, id);
        tx.zrem(this.keys.settlingBackfills, id);
      }
      await tx.exec();
    }
    await this.redis.del(this.keys.exportBackfills(exportId));
  }
}
