import { errorMessage, runIdFor, type BatchExport, type IntervalName, type Logger, type Span } from '@bx/core';
import type { RunQueue } from '@bx/queue';
import type { ReconcileCounts, ReconcileRecord, Store } from '@bx/store';
import type { AlertWebhook } from './alert-webhook';

/** What the source holds now for intervals of an export, per interval start: what its receipt must say. */
export type SourceTally = (
  exp: BatchExport,
  spans: readonly Span[],
) => Promise<Map<number, { records: number; checksum: string }>>;

export interface ReconcilerOptions {
  /** RECONCILE_WINDOW_HOURS in ms: completed intervals that ended this recently are checked. */
  windowMs: number;
  /** Records of intervals left `mismatch` are kept this long (the run retention), others the window. */
  keepMismatchesMs: number;
  /** Exports checked at once (one ClickHouse query each). Default 8. */
  concurrency?: number;
  /** How long one scheduler holds an export's check, in ms. Default 5 minutes. */
  lockMs?: number;
  /** ALERT_WEBHOOK_URL: told of every mismatch found. */
  webhook?: AlertWebhook;
}

/** What one pass did. */
export interface ReconcilePass extends ReconcileCounts {
  exports: number;
}

/** The longest interval of each calendar, in ms (days and weeks: with a daylight-saving hour). */
const LONGEST: Record<IntervalName, number> = {
  'every 5 minutes': 300_000,
  'every 15 minutes': 900_000,
  hour: 3_600_000,
  day: 25 * 3_600_000,
  week: 7 * 24 * 3_600_000 + 3_600_000,
};

/**
 * Checks exported intervals against the source and repairs the ones that
 * changed (contract: Receipts; RECONCILE_*). Per export and pass: one read
 * of its runs in the window (status and receipt only), one grouped query of
 * the source (count and checksum per interval), then each interval is `ok`,
 * or `mismatch` (late rows, deleted rows) and re-exported as a new attempt
 * of the same run (`repairing`; `repaired` once its new receipt matches).
 * The cost is bounded by the window, not by history.
 *
 * Safe with several schedulers: an export is checked by one at a time (a
 * lock), and a repair is a compare-and-set on the run's receipt version
 * (lua/repair-run.lua), so each mismatch is repaired once even when a lock
 * expires mid-check.
 */
export class Reconciler {
  private readonly concurrency: number;
  private readonly lockMs: number;

  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly source: SourceTally,
    private readonly logger: Logger,
    private readonly opts: ReconcilerOptions,
  ) {
    this.concurrency = opts.concurrency ?? 8;
    this.lockMs = opts.lockMs ?? 5 * 60_000;
  }

  /** Checks every export; `now` defaults to Redis server time. */
  async pass(now?: number): Promise<ReconcilePass> {
    const at = now ?? (await this.store.now());
    const total: ReconcilePass = { exports: 0, checked: 0, mismatches: 0, late_rows: 0, repairs: 0 };
    for await (const ids of this.store.exports.ids(1000)) {
      const queue = [...ids];
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          try {
            const counts = await this.reconcileExport(id, at);
            if (!counts) continue;
            total.exports++;
            for (const key of ['checked', 'mismatches', 'late_rows', 'repairs'] as const) total[key] += counts[key];
          } catch (err) {
            this.logger.error('reconciliation of an export failed; retried next pass', {
              export_id: id,
              err: errorMessage(err),
            });
          }
        }
      };
      await Promise.all(Array.from({ length: this.concurrency }, worker));
    }
    if (total.mismatches > 0 || total.repairs > 0) this.logger.info('reconciliation pass', { ...total });
    return total;
  }

  /** Checks one export's intervals in the window; null when another scheduler is on it or it is gone. */
  async reconcileExport(exportId: string, now: number): Promise<ReconcileCounts | null> {
    const token = await this.store.reconciliation.lock(exportId, this.lockMs);
    if (!token) return null;
    try {
      const exp = await this.store.exports.get(exportId);
      if (!exp) return null;
      return await this.check(exp, now);
    } finally {
      await this.store.reconciliation.unlock(exportId, token);
    }
  }

  private async check(exp: BatchExport, now: number): Promise<ReconcileCounts> {
    const from = now - this.opts.windowMs;
    const ids = await this.store.runs.idsBetween(exp.id, from - LONGEST[exp.interval], now);
    const runs = (await this.store.runs.receipts(ids)).filter((run) => run.end > from && run.end <= now);
    const previous = new Map((await this.store.reconciliation.list(exp.id)).map((r) => [r.start, r]));
    const done = runs.filter((run) => run.status === 'Completed' && run.receipt !== null);
    const source = done.length > 0 ? await this.source(exp, done) : new Map();

    const repair = exp.auto_repair !== false;
    const records: ReconcileRecord[] = [];
    const mismatched: ReconcileRecord[] = [];
    for (const run of done) {
      const receipt = run.receipt!;
      const held = source.get(run.start) ?? { records: 0, checksum: '0' };
      const prev = previous.get(run.start);
      const record: ReconcileRecord = {
        start: run.start,
        end: run.end,
        status: 'ok',
        sourceRecords: held.records,
        exportedRecords: receipt.records,
        checkedAt: now,
        version: receipt.version,
      };
      if (held.records === receipt.records && held.checksum === receipt.checksum) {
        // Exported again since a mismatch (by a repair or a manual retry), and equal now.
        if (prev && prev.status !== 'ok' && receipt.version > prev.version) {
          record.status = 'repaired';
          record.version = prev.version;
        }
        records.push(record);
      } else if (repair) {
        mismatched.push(record);
      } else {
        // Left as found until someone retries it (counted and told once: see record()).
        records.push({ ...record, status: 'mismatch' });
      }
    }
    // A repair that failed for good leaves the interval as it was found.
    for (const run of runs) {
      const prev = previous.get(run.start);
      if (prev?.status === 'repairing' && (run.status === 'Failed' || run.status === 'Cancelled'))
        records.push({ ...prev, status: 'mismatch', checkedAt: now });
    }

    const started = { mismatches: 0, late_rows: 0 };
    const repairing: ReconcileRecord[] = [];
    for (const record of mismatched) {
      if (!(await this.startRepair(exp, record, now))) continue;
      repairing.push(record);
      started.mismatches++;
      started.late_rows += Math.max(0, record.sourceRecords - record.exportedRecords);
    }
    const counted = await this.store.reconciliation.record(exp.id, records, done.length, started);
    for (const record of records)
      if (record.status === 'repaired' && ['repairing', 'mismatch'].includes(previous.get(record.start)?.status ?? ''))
        this.logger.info('interval repaired', this.fields(exp, record));
    for (const record of repairing) await this.alert(exp, record, true);
    for (const start of counted.found)
      await this.alert(
        exp,
        records.find((r) => r.start === start)!,
        false,
      );
    await this.prune(exp.id, previous, now);
    return {
      checked: done.length,
      mismatches: counted.mismatches + started.mismatches,
      late_rows: counted.late_rows + started.late_rows,
      repairs: counted.repairs,
    };
  }

  /**
   * Re-exports the interval as a new attempt of its run, if no one else has
   * started to: false when the run changed meanwhile (another scheduler's
   * repair, a retry) or its worker has not let go of its job yet.
   */
  private async startRepair(exp: BatchExport, record: ReconcileRecord, now: number): Promise<boolean> {
    const runId = runIdFor(exp.id, record.start);
    // A worker writes a run's status a moment before its job is released (as a manual retry waits).
    if (!(await this.queue.settled(runId))) return false;
    const repairing = { ...record, status: 'repairing' as const };
    if (!(await this.store.reconciliation.repair(runId, record.version, repairing, now))) return false;
    await this.queue.requeue({
      run_id: runId,
      export_id: exp.id,
      export_name: exp.name,
      data_interval_start: record.start,
      data_interval_end: record.end,
    });
    return true;
  }

  private async alert(exp: BatchExport, record: ReconcileRecord, repair: boolean): Promise<void> {
    this.logger.warn(repair ? 'interval changed at the source; re-exporting it' : 'interval changed at the source', {
      ...this.fields(exp, record),
      receipt_version: record.version,
      auto_repair: repair,
    });
    await this.opts.webhook?.notify({
      type: 'batch_export.reconciliation_mismatch',
      export_id: exp.id,
      name: exp.name,
      team_id: exp.team_id,
      destination: exp.destination.type,
      data_interval_start: new Date(record.start).toISOString(),
      data_interval_end: new Date(record.end).toISOString(),
      source_records: record.sourceRecords,
      exported_records: record.exportedRecords,
      receipt_version: record.version,
      repair,
    });
  }

  /** Records of intervals out of the window go; those left mismatched stay as long as run records do. */
  private async prune(exportId: string, records: Map<number, ReconcileRecord>, now: number): Promise<void> {
    const stale = [...records.values()].filter((r) => {
      const keep =
        r.status === 'mismatch' || r.status === 'repairing' ? this.opts.keepMismatchesMs : this.opts.windowMs;
      return r.end <= now - keep;
    });
    await this.store.reconciliation.remove(
      exportId,
      stale.map((r) => r.start),
    );
  }

  private fields(exp: BatchExport, record: ReconcileRecord): Record<string, unknown> {
    return {
      export_id: exp.id,
      run_id: runIdFor(exp.id, record.start),
      data_interval_start: new Date(record.start).toISOString(),
      data_interval_end: new Date(record.end).toISOString(),
      source_records: record.sourceRecords,
      exported_records: record.exportedRecords,
    };
  }
}
