import type { Run, RunReceipt, RunStatus } from '@bx/core';

/** A run hash as Redis holds it → the run object of the API; null when there is none. */
export function parseRun(hash: Record<string, string> | null): Run | null {
  if (!hash || !hash.id) return null;
  const orNull = (v: string | undefined) => (v ? v : null);
  return {
    id: hash.id,
    export_id: hash.export_id!,
    data_interval_start: hash.data_interval_start!,
    data_interval_end: hash.data_interval_end!,
    status: hash.status as RunStatus,
    attempts: Number(hash.attempts ?? 0),
    records_completed: Number(hash.records_completed ?? 0),
    bytes_exported: Number(hash.bytes_exported ?? 0),
    files: JSON.parse(hash.files || '[]') as string[],
    error: orNull(hash.error),
    backfill_id: orNull(hash.backfill_id),
    created_at: hash.created_at!,
    started_at: orNull(hash.started_at),
    finished_at: orNull(hash.finished_at),
    receipt: hash.receipt ? (JSON.parse(hash.receipt) as RunReceipt) : null,
  };
}
