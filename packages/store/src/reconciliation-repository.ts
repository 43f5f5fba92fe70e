import { randomUUID } from 'node:crypto';
import { callScript, type RedisClient } from '@bx/redis';
import { exportIdOfRun, type StoreKeys } from './keys';
import { storeScripts } from './store-scripts';

/** Contract: `/reconciliation` statuses. */
export const RECONCILE_STATUSES = ['ok', 'mismatch', 'repairing', 'repaired'] as const;
export type ReconcileStatus = (typeof RECONCILE_STATUSES)[number];

/** What the reconciler last found for one exported interval. */
export interface ReconcileRecord {
  /** The interval, epoch ms. */
  start: number;
  end: number;
  status: ReconcileStatus;
  /** Rows the source holds now / the receipt says were exported. */
  sourceRecords: number;
  exportedRecords: number;
  checkedAt: number;
  /** The receipt version compared; for `repairing` and `repaired`, the version that was repaired. */
  version: number;
}

/** What storing a pass's records counted (see `record`). */
export interface Recorded {
  repairs: number;
  mismatches: number;
  late_rows: number;
  /** Interval starts newly found mismatched. */
  found: number[];
}

/** The reconciler's counters of one export. */
export interface ReconcileCounts {
  checked: number;
  mismatches: number;
  late_rows: number;
  repairs: number;
}

export const RECONCILE_COUNTERS = ['checked', 'mismatches', 'late_rows', 'repairs'] as const;

/**
 * The reconciler's records, one hash per export (field: interval start),
 * each a short `status|source|exported|checked ms|end ms|version` string:
 * 72 hourly intervals of 1,000 exports are about 5 MB.
 */
export class ReconciliationRepository {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: StoreKeys,
  ) {
    storeScripts.define(redis, ['repair-run', 'record-reconciliation', 'release-lock']);
  }

  /** The export's records, newest interval first. */
  async list(exportId: string): Promise<ReconcileRecord[]> {
    return decodeAll(await this.redis.hgetall(this.keys.reconciliation(exportId)));
  }

  /** The records of many exports (in their order) in one round trip. */
  async listMany(exportIds: readonly string[]): Promise<ReconcileRecord[][]> {
    if (exportIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of exportIds) pipeline.hgetall(this.keys.reconciliation(id));
    return ((await pipeline.exec()) ?? []).map(([err, hash]) => {
      if (err) throw err;
      return decodeAll(hash as Record<string, string>);
    });
  }

  /**
   * Stores a pass's records of an export and moves its counters in one step,
   * only while the export exists (lua/record-reconciliation.lua), counting
   * each transition once however many schedulers' passes overlap: repairs
   * done (`repairing` or `mismatch` → `repaired`) and mismatches found
   * (→ `mismatch`). `started`: the mismatches (and their late rows) of the
   * repairs this pass started, counted already by their compare-and-set.
   * Answers what it counted and the interval starts it newly found mismatched.
   */
  async record(
    exportId: string,
    records: readonly ReconcileRecord[],
    checked: number,
    started?: { mismatches: number; late_rows: number },
  ): Promise<Recorded> {
    return (await this.recordMany([{ exportId, records, checked, started }]))[0]!;
  }

  /** `record` for many exports in one round trip, in their order. */
  async recordMany(
    entries: ReadonlyArray<{
      exportId: string;
      records: readonly ReconcileRecord[];
      checked: number;
      started?: { mismatches: number; late_rows: number };
    }>,
  ): Promise<Recorded[]> {
    if (entries.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const { exportId, records, checked, started } of entries) {
      callScript(
        pipeline,
        'record-reconciliation',
        [this.keys.export(exportId), this.keys.reconciliation(exportId), this.keys.reconcileStats],
        [
          exportId,
          checked,
          started?.mismatches ?? 0,
          started?.late_rows ?? 0,
          ...records.flatMap((r) => [String(r.start), encode(r)]),
        ],
      );
    }
    return ((await pipeline.exec()) ?? []).map(([err, answer]) => {
      if (err) throw err;
      const [repairs, mismatches, late, ...found] = answer as Array<number | string>;
      return {
        repairs: Number(repairs),
        mismatches: Number(mismatches),
        late_rows: Number(late),
        found: found.map(Number),
      };
    });
  }

  /** Removes records (export id → interval starts), in one round trip. */
  async remove(starts: ReadonlyMap<string, readonly number[]>): Promise<void> {
    const pipeline = this.redis.pipeline();
    let any = false;
    for (const [exportId, list] of starts) {
      if (list.length === 0) continue;
      pipeline.hdel(this.keys.reconciliation(exportId), ...list.map(String));
      any = true;
    }
    if (any) await pipeline.exec();
  }

  /**
   * Puts a Completed run back to Scheduled and records `record` (status
   * repairing), only if its receipt is still of `version`: one scheduler
   * wins (lua/repair-run.lua).
   */
  async repair(runId: string, version: number, record: ReconcileRecord, now: number): Promise<boolean> {
    const exportId = exportIdOfRun(runId);
    const answer = await callScript(
      this.redis,
      'repair-run',
      [
        this.keys.run(runId),
        this.keys.runsByStatus,
        this.keys.pendingRuns(exportId),
        this.keys.unfinishedRuns(exportId),
        this.keys.finishedRuns,
        this.keys.exportRuns(exportId),
        this.keys.reconciliation(exportId),
      ],
      [now, version, record.start, encode(record), record.end],
    );
    return answer === 1;
  }

  /** Takes the export's lock for `ms`; its token, or null when another scheduler holds it. */
  async lock(exportId: string, ms: number): Promise<string | null> {
    return (await this.lockMany([exportId], ms)).get(exportId) ?? null;
  }

  /** Takes the locks of many exports in one round trip: the token of each export locked. */
  async lockMany(exportIds: readonly string[], ms: number): Promise<Map<string, string>> {
    const tokens = exportIds.map(() => randomUUID());
    const pipeline = this.redis.pipeline();
    exportIds.forEach((id, i) => pipeline.set(this.keys.reconcileLock(id), tokens[i]!, 'PX', ms, 'NX'));
    const out = new Map<string, string>();
    ((await pipeline.exec()) ?? []).forEach(([err, ok], i) => {
      if (err) throw err;
      if (ok === 'OK') out.set(exportIds[i]!, tokens[i]!);
    });
    return out;
  }

  /** Releases locks still held with these tokens (export id → token). */
  async unlockMany(tokens: ReadonlyMap<string, string>): Promise<void> {
    if (tokens.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [id, token] of tokens) callScript(pipeline, 'release-lock', [this.keys.reconcileLock(id)], [token]);
    await pipeline.exec();
  }
}

/** The counters of an export in the stats hash (all exports' fields). */
export function reconcileCountsOf(hash: Record<string, string>, exportId: string): ReconcileCounts {
  const get = (name: string) => Number(hash[`${exportId}|${name}`] ?? 0);
  return {
    checked: get('checked'),
    mismatches: get('mismatches'),
    late_rows: get('late_rows'),
    repairs: get('repairs'),
  };
}

function encode(r: ReconcileRecord): string {
  return [r.status, r.sourceRecords, r.exportedRecords, r.checkedAt, r.end, r.version].join('|');
}

function decodeAll(hash: Record<string, string>): ReconcileRecord[] {
  return Object.entries(hash)
    .map(([start, value]) => decode(Number(start), value))
    .filter((r): r is ReconcileRecord => r !== null)
    .sort((a, b) => b.start - a.start);
}

function decode(start: number, value: string): ReconcileRecord | null {
  const [status, source, exported, checked, end, version] = value.split('|');
  if (!(RECONCILE_STATUSES as readonly string[]).includes(status!)) return null;
  return {
    start,
    end: Number(end),
    status: status as ReconcileStatus,
    sourceRecords: Number(source),
    exportedRecords: Number(exported),
    checkedAt: Number(checked),
    version: Number(version),
  };
}
