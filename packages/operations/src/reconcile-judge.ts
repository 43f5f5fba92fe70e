import type { ReconcileRecord, RunReceiptView } from '@bx/store';

export interface JudgeInput {
  /** The export's runs whose interval ended within the window. */
  runs: readonly RunReceiptView[];
  /** Those Completed with a receipt: the intervals to compare. */
  done: readonly RunReceiptView[];
  /** What the source holds per interval start (none: no rows). */
  held: ReadonlyMap<number, { records: number; checksum: string }>;
  /** What the last pass recorded, per interval start. */
  previous: ReadonlyMap<number, ReconcileRecord>;
  /** The export repairs mismatches itself (auto_repair). */
  repair: boolean;
  now: number;
}

/**
 * What each interval is now, from its receipt and the source (pure: the
 * reconciler does the reading and writing). `records` are stored as they
 * are; `mismatched` are to be repaired (only when `repair`): their records
 * are stored by the repair's compare-and-set, as `repairing`.
 */
export function judgeIntervals(input: JudgeInput): { records: ReconcileRecord[]; mismatched: ReconcileRecord[] } {
  const records: ReconcileRecord[] = [];
  const mismatched: ReconcileRecord[] = [];
  for (const run of input.done) {
    const receipt = run.receipt!;
    const held = input.held.get(run.start) ?? { records: 0, checksum: '0' };
    const prev = input.previous.get(run.start);
    const record: ReconcileRecord = {
      start: run.start,
      end: run.end,
      status: 'ok',
      sourceRecords: held.records,
      exportedRecords: receipt.records,
      checkedAt: input.now,
      version: receipt.version,
    };
    if (held.records === receipt.records && held.checksum === receipt.checksum) {
      // Exported again since a mismatch (by a repair or a manual retry), and equal now.
      if (prev && prev.status !== 'ok' && receipt.version > prev.version) {
        record.status = 'repaired';
        record.version = prev.version;
      }
      records.push(record);
    } else if (input.repair) {
      mismatched.push(record);
    } else {
      // Left as found until someone retries it (counted and told once: see ReconciliationRepository.record).
      records.push({ ...record, status: 'mismatch' });
    }
  }
  // A repair that failed for good leaves the interval as it was found.
  for (const run of input.runs) {
    const prev = input.previous.get(run.start);
    if (prev?.status === 'repairing' && (run.status === 'Failed' || run.status === 'Cancelled'))
      records.push({ ...prev, status: 'mismatch', checkedAt: input.now });
  }
  return { records, mismatched };
}
