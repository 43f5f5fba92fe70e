import type { Run, RunReceipt, RunStatus } from '@bx/core';
import { callScript, type RedisClient } from '@bx/redis';
import { EXPORTED_BLOCK_SLOTS, EXPORTED_SLOT_MS, exportedBlockOf, intervalStartOfRun, type StoreKeys } from './keys';
import { parseRun } from './run-record';

/**
 * One attempt of a run, as its start named it: the number (the run's `attempts`, counted across
 * retries) and a random token (start-run.lua), which the number alone is not.
 */
export interface AttemptRef {
  attempt: number;
  /** 32 hex digits, new at each start; internal: never shown in the API or logs. */
  token: string;
  /**
   * When its start ran (epoch ms, the run's started_ms): with it the fence also holds against a
   * previous version's rewrite and start of the run, which leave this token in place (lua/includes/attempt.lua).
   */
  startedMs?: number;
}

/**
 * An attempt as the fenced scripts take it (ARGV): its number and token (`<token>:<started ms>`
 * when known), '' for none (number alone: the old rule).
 */
export function attemptArgs(attempt: number | AttemptRef | undefined): [string, string] {
  if (attempt === undefined) return ['', ''];
  if (typeof attempt === 'number') return [String(attempt), ''];
  const token = attempt.startedMs === undefined ? attempt.token : `${attempt.token}:${attempt.startedMs}`;
  return [String(attempt.attempt), token];
}

/** A run record's status and interval end, as far as deciding whether an interval is done needs. */
export interface RunCoverage {
  status: RunStatus;
  /** data_interval_end, epoch ms. */
  end: number;
}

export interface ListRunsOptions {
  status?: RunStatus;
  limit: number;
  /** Only runs whose interval starts before this (epoch ms): the page cursor or range end. */
  before?: number;
  /** Only runs whose interval starts at or after this (epoch ms). */
  from?: number;
}

/** Run records a page reads at a time (RunReads.page). */
const PAGE_READ_SLICE = 50;

/** What the reconciler reads of a run: its status, interval and receipt. */
export interface RunReceiptView {
  id: string;
  status: RunStatus;
  /** The interval, epoch ms. */
  start: number;
  end: number;
  receipt: RunReceipt | null;
}

/**
 * What the store reads of run records, without changing them: the records,
 * their statuses and intervals, lists and the intervals known exported after
 * retention. RunRepository adds the writes, each a Lua script.
 */
export abstract class RunReads {
  constructor(
    protected readonly redis: RedisClient,
    protected readonly keys: StoreKeys,
  ) {}

  async get(id: string): Promise<Run | null> {
    return parseRun(await this.redis.hgetall(this.keys.run(id)));
  }

  async getMany(ids: readonly string[]): Promise<Array<Run | null>> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.run(id));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, hash]) => {
      if (err) throw err;
      return parseRun(hash as Record<string, string>);
    });
  }

  /**
   * Per run, whether `backfillId` started it: the backfill it runs for, or one
   * before it that another backfill took it over from (reschedule-run.lua).
   */
  async startedBy(backfillId: string, ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.keys.run(id), 'backfill_id', 'prior_backfills');
    return ((await pipeline.exec()) ?? []).map(([err, fields]) => {
      if (err) throw err;
      const [current, prior] = fields as [string | null, string | null];
      return current === backfillId || (prior ?? '').split(' ').includes(backfillId);
    });
  }

  /** Ids of an export's runs whose interval starts in `[from, to)` (epoch ms), oldest first. */
  async idsBetween(exportId: string, from: number, to: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.exportRuns(exportId), from, `(${to}`);
  }

  /** `idsBetween` of many exports in one round trip, in their order. */
  async idsBetweenMany(ranges: ReadonlyArray<{ exportId: string; from: number; to: number }>): Promise<string[][]> {
    if (ranges.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const r of ranges) pipeline.zrangebyscore(this.keys.exportRuns(r.exportId), r.from, `(${r.to}`);
    return ((await pipeline.exec()) ?? []).map(([err, ids]) => {
      if (err) throw err;
      return ids as string[];
    });
  }

  /** Status, interval and receipt of many runs, without the rest of their records; one script call per 5,000. */
  async receipts(ids: readonly string[]): Promise<RunReceiptView[]> {
    const out: RunReceiptView[] = [];
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = ids.slice(i, i + 5000);
      const values = (await callScript(
        this.redis,
        'run-receipts',
        chunk.map((id) => this.keys.run(id)),
        [],
      )) as string[];
      chunk.forEach((id, k) => {
        const [status, end, receipt] = [values[3 * k], values[3 * k + 1], values[3 * k + 2]];
        if (!status || !end) return;
        out.push({
          id,
          status: status as RunStatus,
          start: intervalStartOfRun(id),
          end: Number(end),
          receipt: receipt ? (JSON.parse(receipt) as RunReceipt) : null,
        });
      });
    }
    return out;
  }

  /** Status of many runs in one round trip (null: no record). */
  async statuses(ids: readonly string[]): Promise<Array<RunStatus | null>> {
    const out: Array<RunStatus | null> = [];
    for (let i = 0; i < ids.length; i += 5000) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 5000)) pipeline.hget(this.keys.run(id), 'status');
      for (const [err, value] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        out.push((value as RunStatus | null) ?? null);
      }
    }
    return out;
  }

  /**
   * Status and interval end of many runs in one round trip per 5,000 (null:
   * no record): an interval is done only when its run Completed with the same end.
   */
  async coverage(ids: readonly string[]): Promise<Array<RunCoverage | null>> {
    const out: Array<RunCoverage | null> = [];
    for (let i = 0; i < ids.length; i += 5000) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 5000)) pipeline.hmget(this.keys.run(id), 'status', 'data_interval_end');
      for (const [err, value] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        const [status, end] = value as [string | null, string | null];
        out.push(status && end ? { status: status as RunStatus, end: Date.parse(end) } : null);
      }
    }
    return out;
  }

  /** Newest interval first. */
  async list(exportId: string, opts: ListRunsOptions): Promise<Run[]> {
    return (await this.page(exportId, { ...opts, maxScanned: Number.POSITIVE_INFINITY })).runs;
  }

  /**
   * Up to `limit` of an export's runs, newest interval first, looking at no
   * more than `maxScanned` runs: a status that few of many runs have stops
   * there (an export with 100,000 runs and none Completed read every record
   * for `?status=Completed`, 6.6 s a request). With a status, only the
   * matching records are read whole. `stoppedAt` is the interval start
   * (epoch ms) of the last run looked at when it stopped so with runs left
   * to look at (a cursor to go on before it); else null, also when the
   * budget ran out on the very last run. `full`: it stopped after the run
   * that brought the runs read to `maxBytes` (as the API sends them), with
   * runs left to read.
   */
  async page(
    exportId: string,
    opts: ListRunsOptions & { maxScanned: number; maxBytes?: number },
  ): Promise<{ runs: Run[]; stoppedAt: number | null; full?: boolean }> {
    const runs: Run[] = [];
    const maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    let bytes = 0;
    let max = opts.before === undefined ? '+inf' : `(${opts.before}`;
    const min = opts.from === undefined ? '-inf' : String(opts.from);
    let budget = opts.maxScanned;
    for (;;) {
      const size = Math.min(Math.max(opts.limit, 100), budget);
      const found = await this.redis.zrevrangebyscore(
        this.keys.exportRuns(exportId),
        max,
        min,
        'WITHSCORES',
        'LIMIT',
        0,
        size,
      );
      const ids = found.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) return { runs, stoppedAt: null };
      budget -= ids.length;
      const statuses = opts.status ? await this.statuses(ids) : [];
      const wanted = opts.status ? ids.filter((_, i) => statuses[i] === opts.status) : ids;
      // A slice at a time: a run's `files` may list thousands of keys, and the page stops at maxBytes.
      for (let from = 0; from < wanted.length; from += PAGE_READ_SLICE) {
        const slice = await this.getMany(wanted.slice(from, from + PAGE_READ_SLICE));
        for (const [k, run] of slice.entries()) {
          if (!run || (opts.status && run.status !== opts.status)) continue;
          runs.push(run);
          if (runs.length === opts.limit) return { runs, stoppedAt: null };
          if (maxBytes !== Number.POSITIVE_INFINITY) bytes += JSON.stringify(run).length;
          if (bytes < maxBytes) continue;
          // Full: a next page only when a run is left after this one (none after the last: no empty page).
          const left =
            from + k + 1 < wanted.length ||
            (await this.redis.zcount(this.keys.exportRuns(exportId), min, `(${Date.parse(run.data_interval_start)}`)) >
              0;
          return { runs, stoppedAt: null, full: left };
        }
      }
      const last = Number(found[found.length - 1]);
      if (ids.length < size) return { runs, stoppedAt: null };
      max = `(${last}`;
      if (budget <= 0) {
        // Exactly the budget left: nothing lies past the last one looked at, so no page follows.
        const left = await this.redis.zcount(this.keys.exportRuns(exportId), min, max);
        return { runs, stoppedAt: left > 0 ? last : null };
      }
    }
  }

  /** Ids of an export's runs Scheduled, Running or FailedRetryable, oldest interval first (at most a window's worth). */
  async unfinished(exportId: string): Promise<string[]> {
    return this.redis.zrange(this.keys.unfinishedRuns(exportId), 0, -1);
  }

  /** unfinished() of many exports, in one round trip. */
  async unfinishedMany(exportIds: readonly string[]): Promise<string[][]> {
    if (exportIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of exportIds) pipeline.zrange(this.keys.unfinishedRuns(id), 0, -1);
    return ((await pipeline.exec()) ?? []).map(([err, ids]) => {
      if (err) throw err;
      return ids as string[];
    });
  }

  /** How many of an export's runs are Scheduled, Running or FailedRetryable, per export. */
  async unfinishedCounts(exportIds: readonly string[]): Promise<number[]> {
    if (exportIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of exportIds) pipeline.zcard(this.keys.unfinishedRuns(id));
    return ((await pipeline.exec()) ?? []).map(([err, n]) => {
      if (err) throw err;
      return Number(n);
    });
  }

  /** Destination scratch state kept across attempts (e.g. open multipart uploads). */
  async state<T>(id: string): Promise<T | null> {
    const text = await this.redis.hget(this.keys.run(id), 'state');
    return text ? (JSON.parse(text) as T) : null;
  }

  /**
   * Whether `attempt` is the run's latest attempt (none started after it); false when the run
   * is gone. With the attempt's token (AttemptRef) as lua/includes/attempt.lua decides: the
   * number alone repeats (a rewritten record, a start lost in a Redis failover).
   */
  async isLatestAttempt(id: string, attempt: number | AttemptRef): Promise<boolean> {
    const [n] = attemptArgs(attempt);
    const fields = await this.redis.hmget(this.keys.run(id), 'attempts', 'attempt_token', 'started_ms');
    const [attempts, stored, startedMs] = fields;
    if (attempts !== n || typeof attempt === 'number') return attempts === n;
    if (stored !== attempt.token) return false;
    return attempt.startedMs === undefined || startedMs === String(attempt.startedMs);
  }

  /** Ids of runs that finished before `before` (epoch ms), oldest first. */
  async finishedBefore(before: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.finishedRuns, '-inf', `(${before}`, 'LIMIT', 0, limit);
  }

  /**
   * Which of an export's intervals are known exported though their run
   * records are gone (retention), as exactly those intervals: every 5-minute
   * slot of one covered, a bound at both its ends and none between (the
   * export's bitmaps, lua/includes/slots.lua). Reads each block once.
   */
  async knownExported(exportId: string, spans: ReadonlyArray<{ start: number; end: number }>): Promise<boolean[]> {
    const none = Buffer.alloc(0);
    const blocks = new Map<number, { cover: Buffer; bounds: Buffer; old: Buffer }>();
    for (const span of spans)
      for (const b of [exportedBlockOf(span.start), exportedBlockOf(span.start) + 1])
        if (!blocks.has(b)) {
          const [cover, bounds, legacy] = await Promise.all([
            this.redis.getBuffer(this.keys.exportedBlock(exportId, b)),
            this.redis.getBuffer(this.keys.exportedBounds(exportId, b)),
            this.redis.getBuffer(this.keys.exportedLegacy(exportId, b)),
          ]);
          // The old marks (no bounds): the legacy bitmap, or the cover while the block has no bounds.
          const old = bounds === null ? cover : legacy;
          blocks.set(b, { cover: cover ?? none, bounds: bounds ?? none, old: old ?? none });
        }
    const isSet = (slot: number, which: 'cover' | 'bounds' | 'old') => {
      const block = Math.floor(slot / EXPORTED_BLOCK_SLOTS);
      const bit = slot - block * EXPORTED_BLOCK_SLOTS;
      const bytes = blocks.get(block)?.[which] ?? Buffer.alloc(0);
      return bit >> 3 < bytes.length && (bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0;
    };
    return spans.map((span) => {
      const a = Math.floor(span.start / EXPORTED_SLOT_MS);
      const b = Math.ceil(span.end / EXPORTED_SLOT_MS);
      const all = (which: 'cover' | 'old') => {
        for (let slot = a; slot < b; slot++) if (!isSet(slot, which)) return false;
        return true;
      };
      // Old marks: every slot covered is all they tell.
      if (all('old')) return true;
      if (!all('cover')) return false;
      if (!isSet(a, 'bounds') || !isSet(b, 'bounds')) return false;
      for (let slot = a + 1; slot < b; slot++) if (isSet(slot, 'bounds')) return false;
      return true;
    });
  }
}
