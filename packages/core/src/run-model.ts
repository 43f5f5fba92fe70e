/** Run statuses (contract: intervals and runs). */
export const RUN_STATUSES = ['Scheduled', 'Running', 'Completed', 'Failed', 'FailedRetryable', 'Cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses after which a run does nothing until someone retries it. */
export const FINAL_STATUSES: readonly RunStatus[] = ['Completed', 'Failed', 'Cancelled'];

/** One run: exactly one per (export, data_interval_start). Timestamps are ISO 8601 UTC. */
export interface Run {
  id: string;
  export_id: string;
  data_interval_start: string;
  data_interval_end: string;
  status: RunStatus;
  attempts: number;
  records_completed: number;
  bytes_exported: number;
  files: string[];
  error: string | null;
  backfill_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** What the completed run wrote, checkable against the source; null until it completes. */
  receipt: RunReceipt | null;
}

/**
 * A completed run's receipt (contract: Receipts). `checksum` is the sum
 * modulo 2^64 of sipHash64 of each exported uuid as text, in decimal.
 */
export interface RunReceipt {
  records: number;
  checksum: string;
  min_inserted_at: string | null;
  max_inserted_at: string | null;
  files: string[];
  /** Counts rewrites of the interval: 1 for the first completed export. */
  version: number;
}

/**
 * The run id derived from its export and interval start, e.g.
 * `0b7c…-20240101T000000Z`. BullMQ job ids may not contain `:`, so the
 * timestamp is written without separators; the same id names the job.
 */
export function runIdFor(exportId: string, intervalStart: number): string {
  const iso = new Date(intervalStart).toISOString(); // 2024-01-01T00:00:00.000Z
  return `${exportId}-${iso.slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** Export and backfill ids: lower-case UUIDs, as `randomUUID()` gives them. */
export const UUID_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Run ids: the export's id and the interval start, as runIdFor writes them. */
export const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-\d{8}T\d{6}Z$/;
