/**
 * Every Redis key the store uses, under one deployment prefix. In cluster
 * mode the prefix carries a hash tag (`{bx}`), so every key lives in one slot
 * and any script or MULTI may name any of them.
 */
export function storeKeys(prefix: string) {
  return {
    prefix,
    export: (id: string) => `${prefix}:export:${id}`,
    /** lex zset of `<created ms, 15 digits>:<export id>`, score 0: every export, oldest first (pagination). */
    exportIndex: `${prefix}:exports:index`,
    teamIndex: (teamId: number) => `${prefix}:team:${teamId}:index`,
    /** set of paused export ids: runs of these do not start (held) until unpause. */
    pausedExports: `${prefix}:exports:paused`,
    /** hash export id → the export as it was when deleted; its keys are being removed in the background. */
    deletingExports: `${prefix}:exports:deleting`,
    /** zset export id → epoch ms at which its next interval is due. */
    schedule: `${prefix}:schedule`,
    /** hash export id → epoch ms start of the next interval to schedule. */
    cursor: `${prefix}:cursor`,
    run: (runId: string) => `${prefix}:run:${runId}`,
    /** list of a run's log lines (JSON), the newest last; bounded. */
    runLog: (runId: string) => `${prefix}:runlog:${runId}`,
    /** zset run id → data_interval_start ms, per export: every run record of the export. */
    exportRuns: (exportId: string) => `${prefix}:runs:${exportId}`,
    /** zset run id → data_interval_end ms of an export's runs not yet Completed nor Cancelled (lag). */
    pendingRuns: (exportId: string) => `${prefix}:pending:${exportId}`,
    /** zset run id → data_interval_start ms of an export's runs Scheduled, Running or FailedRetryable. */
    unfinishedRuns: (exportId: string) => `${prefix}:unfinished:${exportId}`,
    /** zset of `<start ms>:<end ms>` → start ms: intervals known exported whose run records are gone (retention). */
    exportedRanges: (exportId: string) => `${prefix}:exported:${exportId}`,
    /** zset run id → finished_at ms of every finished run: retention removes the oldest. */
    finishedRuns: `${prefix}:runs-finished`,
    /** consecutive failed runs of an export. */
    failures: (exportId: string) => `${prefix}:failures:${exportId}`,
    /** set while an alert about the export was sent in the last day. */
    alerted: (exportId: string) => `${prefix}:alerted:${exportId}`,
    backfill: (id: string) => `${prefix}:backfill:${id}`,
    /** zset run id → data_interval_start ms: runs a backfill started that have not reached a final status. */
    backfillOpen: (id: string) => `${prefix}:backfill-open:${id}`,
    /** short lock of one backfill's next step (several schedulers). */
    backfillLock: (id: string) => `${prefix}:backfill-lock:${id}`,
    /** zset backfill id → created ms, per export. */
    exportBackfills: (exportId: string) => `${prefix}:backfills:${exportId}`,
    /** zset backfill id → created ms of backfills with intervals still to start. */
    activeBackfills: `${prefix}:backfills-active`,
    /** hash status → runs in that status now; every status change moves it. */
    runsByStatus: `${prefix}:stats:runs-by-status`,
    /** hash `<export id>|rows` and `<export id>|bytes` → totals of the export's completed runs. */
    exportTotals: `${prefix}:stats:export-totals`,
    /** hash `<status>|<le>`, `<status>|count`, `<status>|sum_ms` → attempt durations; buckets not cumulative. */
    runDurations: `${prefix}:stats:run-durations`,
    /** Before the export index (first version): sets of export ids. Read once by the migration. */
    legacyAllExports: `${prefix}:exports`,
  };
}
export type StoreKeys = ReturnType<typeof storeKeys>;

/**
 * The export id inside a run id (`<export id>-YYYYMMDDTHHMMSSZ`, see
 * runIdFor): scripts get the export's keys without reading the run first.
 */
export function exportIdOfRun(runId: string): string {
  return runId.slice(0, -17);
}
