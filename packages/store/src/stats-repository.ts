import { RUN_STATUSES, type BatchExport, type RunStatus } from '@bx/core';
import { callScript, type RedisClient } from '@bx/redis';
import type { ExportRepository } from './export-repository';
import { reconcileCountsOf, type ReconcileCounts } from './reconciliation-repository';
import type { StoreKeys } from './keys';
import { RUN_DURATION_BUCKETS } from './run-durations';
import { storeScripts } from './store-scripts';

/** Attempt durations of runs that ended in one status. */
export interface DurationStats {
  status: string;
  /** Attempts per bucket, not cumulative: `[le, count]` with `le` in seconds, Infinity last. */
  buckets: Array<[number, number]>;
  count: number;
  sumSeconds: number;
}

/** What the store knows about one export's progress. */
export interface ExportStats {
  id: string;
  export: Pick<BatchExport, 'interval' | 'timezone' | 'end_at' | 'paused'> | null;
  /** Rows and bytes of its completed runs, re-runs included. */
  rows: number;
  bytes: number;
  /** data_interval_end (epoch ms) of its oldest run not Completed nor Cancelled; null if none. */
  oldestPendingEnd: number | null;
  /** Start (epoch ms) of the next interval the scheduler will create a run for. */
  cursor: number | null;
  /** The reconciler's counters: intervals checked, mismatches found, rows found late, repairs done. */
  reconcile: ReconcileCounts;
}

export interface StatsSnapshot {
  /** Redis server time, epoch ms. */
  now: number;
  runsByStatus: Record<RunStatus, number>;
  durations: DurationStats[];
  exports: ExportStats[];
}

/** Exports per round trip: bounds the memory of one reply. */
const CHUNK = 1000;

/**
 * Reads the counters the run scripts keep (run-scripts.ts) for /metrics. The
 * cost is one round trip plus one per thousand exports, two commands each: no
 * run record is read, however many there are.
 */
export class StatsRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
    private readonly exports: Pick<ExportRepository, 'ids'>,
  ) {
    storeScripts.define(redis, ['oldest-pending']);
  }

  async snapshot(): Promise<StatsSnapshot> {
    const results = await this.redis
      .pipeline()
      .time()
      .hgetall(this.keys.runsByStatus)
      .hgetall(this.keys.runDurations)
      .hgetall(this.keys.exportTotals)
      .hgetall(this.keys.cursor)
      .hgetall(this.keys.reconcileStats)
      .exec();
    const [time, byStatus, durations, totals, cursors, reconcile] = (results ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [
      [string, string],
      Record<string, string>,
      Record<string, string>,
      Record<string, string>,
      Record<string, string>,
      Record<string, string>,
    ];

    const exports: ExportStats[] = [];
    for await (const ids of this.exports.ids(CHUNK))
      exports.push(...(await this.exportChunk(ids, totals, cursors, reconcile)));
    return {
      now: Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000),
      runsByStatus: Object.fromEntries(RUN_STATUSES.map((s) => [s, Number(byStatus[s] ?? 0)])) as Record<
        RunStatus,
        number
      >,
      durations: durationStats(durations),
      exports,
    };
  }

  private async exportChunk(
    ids: string[],
    totals: Record<string, string>,
    cursors: Record<string, string>,
    reconcile: Record<string, string>,
  ): Promise<ExportStats[]> {
    const pipeline = this.redis.pipeline();
    callScript(
      pipeline,
      'oldest-pending',
      ids.map((id) => this.keys.pendingRuns(id)),
      [],
    );
    pipeline.mget(ids.map((id) => this.keys.export(id)));
    const [oldest, texts] = ((await pipeline.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [string[], Array<string | null>];
    return ids.map((id, i) => {
      const text = texts[i];
      const exp = text ? (JSON.parse(text) as BatchExport) : null;
      return {
        id,
        export: exp && { interval: exp.interval, timezone: exp.timezone, end_at: exp.end_at, paused: exp.paused },
        rows: Number(totals[`${id}|rows`] ?? 0),
        bytes: Number(totals[`${id}|bytes`] ?? 0),
        oldestPendingEnd: oldest[i] ? Number(oldest[i]) : null,
        cursor: cursors[id] === undefined ? null : Number(cursors[id]),
        reconcile: reconcileCountsOf(reconcile, id),
      };
    });
  }
}

function durationStats(hash: Record<string, string>): DurationStats[] {
  const statuses = new Set(Object.keys(hash).map((field) => field.slice(0, field.indexOf('|'))));
  const bounds = [...RUN_DURATION_BUCKETS, Number.POSITIVE_INFINITY];
  return [...statuses].sort().map((status) => {
    const buckets = bounds.map((le): [number, number] => [
      le,
      Number(hash[`${status}|${le === Number.POSITIVE_INFINITY ? '+Inf' : String(le)}`] ?? 0),
    ]);
    return {
      status,
      buckets,
      // Every attempt is in one bucket (finish-run.lua keeps no count of its own).
      count: buckets.reduce((sum, [, n]) => sum + n, 0),
      sumSeconds: Number(hash[`${status}|sum_ms`] ?? 0) / 1000,
    };
  });
}
