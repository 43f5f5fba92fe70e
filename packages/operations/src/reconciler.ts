import { errorMessage, runIdFor, type BatchExport, type IntervalName, type Logger, type Span } from '@bx/core';
import type { RunQueue } from '@bx/queue';
import { exportIdOfRun, type ReconcileCounts, type ReconcileRecord, type RunReceiptView, type Store } from '@bx/store';
import type { AlertWebhook } from './alert-webhook';
import { judgeIntervals } from './reconcile-judge';

/** What the source holds now for intervals of exports, per export (in order) and interval start. */
export type SourceTally = (
  items: ReadonlyArray<{ exp: BatchExport; spans: readonly Span[] }>,
) => Promise<Array<Map<number, { records: number; checksum: string }>>>;

export interface ReconcilerOptions {
  /** RECONCILE_WINDOW_HOURS in ms: completed intervals that ended this recently are checked. */
  windowMs: number;
  /** Records of intervals left `mismatch` are kept this long (the run retention), others the window. */
  keepMismatchesMs: number;
  /** Exports read and checked together (Redis round trips and source queries are per chunk). Default 100. */
  chunk?: number;
  /** How long one scheduler holds an export's check, in ms. Default 5 minutes. */
  lockMs?: number;
  /** ALERT_WEBHOOK_URL: told of every mismatch found. */
  webhook?: AlertWebhook;
  /** Whether the source tally can count exports of a model (IntervalChecksums.supports). Default: events only. */
  checks?: (model: string) => boolean;
}

/** What one pass did. */
export interface ReconcilePass extends ReconcileCounts {
  exports: number;
}

/** Chunks of exports checked at once by one pass. */
const CHUNKS_IN_FLIGHT = 3;

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
 * changed (contract: Receipts; RECONCILE_*). For each export, its completed
 * runs whose interval ended within the window: the receipt (rows,
 * checksum) against what the source holds now (one grouped query; exports
 * on one grid with the same filters share one). An interval is `ok`, or
 * `mismatch` (late rows, deleted rows) and re-exported as a new attempt of
 * the same run (`repairing`; `repaired` once its new receipt matches), unless
 * the export has `auto_repair: false`. The cost is bounded by the window,
 * not by history; exports go a chunk at a time, a few Redis round trips
 * per chunk.
 *
 * Safe with several schedulers: an export is checked by one at a time (a
 * lock); a repair is a compare-and-set on the run's receipt version
 * (lua/repair-run.lua) and the counters count transitions against the
 * stored records (lua/record-reconciliation.lua), so each mismatch is
 * repaired and counted once even when a lock expires mid-check.
 */
export class Reconciler {
  private readonly chunk: number;
  private readonly lockMs: number;

  private readonly checks: (model: string) => boolean;

  constructor(
    private readonly store: Store,
    private readonly queue: RunQueue,
    private readonly source: SourceTally,
    private readonly logger: Logger,
    private readonly opts: ReconcilerOptions,
  ) {
    this.chunk = opts.chunk ?? 100;
    this.lockMs = opts.lockMs ?? 5 * 60_000;
    this.checks = opts.checks ?? ((model) => model === 'events');
  }

  /** Checks every export; `now` defaults to Redis server time. */
  async pass(now?: number): Promise<ReconcilePass> {
    const at = now ?? (await this.store.now());
    const total: ReconcilePass = { exports: 0, checked: 0, mismatches: 0, late_rows: 0, repairs: 0 };
    for await (const page of this.store.exports.ids(1000)) {
      const chunks: string[][] = [];
      for (let i = 0; i < page.length; i += this.chunk) chunks.push(page.slice(i, i + this.chunk));
      // A few chunks in flight: one waits for ClickHouse while another talks to Redis.
      const worker = async () => {
        for (let ids = chunks.shift(); ids; ids = chunks.shift()) {
          try {
            const counts = await this.reconcileChunk(ids, at);
            total.exports += counts.length;
            for (const c of counts)
              for (const key of ['checked', 'mismatches', 'late_rows', 'repairs'] as const) total[key] += c[key];
          } catch (err) {
            this.logger.error('reconciliation of exports failed; retried next pass', {
              exports: ids.length,
              err: errorMessage(err),
            });
          }
        }
      };
      await Promise.all(Array.from({ length: CHUNKS_IN_FLIGHT }, worker));
    }
    if (total.mismatches > 0 || total.repairs > 0) this.logger.info('reconciliation pass', { ...total });
    return total;
  }

  /** Checks a chunk of exports; answers the counts of those it checked (not locked by another scheduler). */
  async reconcileChunk(ids: readonly string[], now: number): Promise<ReconcileCounts[]> {
    const tokens = await this.store.reconciliation.lockMany(ids, this.lockMs);
    try {
      const exports = (await this.store.exports.getMany([...tokens.keys()])).filter(
        (exp): exp is BatchExport => exp !== null && this.checks(exp.model),
      );
      const from = now - this.opts.windowMs;
      const runIds = await this.store.runs.idsBetweenMany(
        exports.map((exp) => ({ exportId: exp.id, from: from - LONGEST[exp.interval], to: now })),
      );
      const receipts = await this.store.runs.receipts(runIds.flat());
      const byExport = new Map<string, RunReceiptView[]>();
      for (const run of receipts) {
        if (run.end <= from || run.end > now) continue;
        const exportId = exportIdOfRun(run.id);
        const list = byExport.get(exportId);
        if (list) list.push(run);
        else byExport.set(exportId, [run]);
      }
      const previous = await this.store.reconciliation.listMany(exports.map((exp) => exp.id));
      const items = exports.map((exp) => ({
        exp,
        runs: byExport.get(exp.id) ?? [],
        done: (byExport.get(exp.id) ?? []).filter((run) => run.status === 'Completed' && run.receipt !== null),
      }));
      const held = await this.source(items.map(({ exp, done }) => ({ exp, spans: done })));
      return await this.settle(items, held, previous, now);
    } finally {
      await this.store.reconciliation.unlockMany(tokens);
    }
  }

  /**
   * Records what each export's intervals are now (one round trip for the
   * chunk), starts the repairs, tells of the mismatches, prunes old records.
   */
  private async settle(
    items: ReadonlyArray<{ exp: BatchExport; runs: RunReceiptView[]; done: RunReceiptView[] }>,
    held: Array<Map<number, { records: number; checksum: string }>>,
    previous: ReconcileRecord[][],
    now: number,
  ): Promise<ReconcileCounts[]> {
    const judged = [];
    for (const [i, { exp, runs, done }] of items.entries()) {
      const before = new Map(previous[i]!.map((r) => [r.start, r]));
      const repair = exp.auto_repair !== false;
      const { records, mismatched } = judgeIntervals({ runs, done, held: held[i]!, previous: before, repair, now });
      const started = { mismatches: 0, late_rows: 0 };
      const repairing: ReconcileRecord[] = [];
      for (const record of mismatched) {
        if (!(await this.startRepair(exp, record, now))) continue;
        repairing.push(record);
        started.mismatches++;
        started.late_rows += Math.max(0, record.sourceRecords - record.exportedRecords);
      }
      judged.push({ exp, before, records, repairing, started, checked: done.length });
    }
    const counted = await this.store.reconciliation.recordMany(
      judged.map((j) => ({ exportId: j.exp.id, records: j.records, checked: j.checked, started: j.started })),
    );
    const out: ReconcileCounts[] = [];
    for (const [i, { exp, before, records, repairing, started, checked }] of judged.entries()) {
      const c = counted[i]!;
      for (const record of records)
        if (record.status === 'repaired' && ['repairing', 'mismatch'].includes(before.get(record.start)?.status ?? ''))
          this.logger.info('interval repaired', this.fields(exp, record));
      for (const record of repairing) await this.alert(exp, record, true);
      for (const start of c.found)
        await this.alert(
          exp,
          records.find((r) => r.start === start)!,
          false,
        );
      out.push({
        checked,
        mismatches: c.mismatches + started.mismatches,
        late_rows: c.late_rows + started.late_rows,
        repairs: c.repairs,
      });
    }
    await this.store.reconciliation.remove(
      new Map(items.map(({ exp }, i) => [exp.id, this.stale(previous[i]!, now).map((r) => r.start)])),
    );
    return out;
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
  private stale(records: ReconcileRecord[], now: number): ReconcileRecord[] {
    return records.filter((r) => {
      const keep =
        r.status === 'mismatch' || r.status === 'repairing' ? this.opts.keepMismatchesMs : this.opts.windowMs;
      return r.end <= now - keep;
    });
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
