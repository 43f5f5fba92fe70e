/** Every Redis key the store uses, under one deployment prefix. */
export function storeKeys(prefix: string) {
  return {
    export: (id: string) => `${prefix}:export:${id}`,
    allExports: `${prefix}:exports`,
    teamExports: (teamId: number) => `${prefix}:team:${teamId}:exports`,
    /** zset export id → epoch ms at which its next interval is due. */
    schedule: `${prefix}:schedule`,
    /** hash export id → epoch ms start of the next interval to schedule. */
    cursor: `${prefix}:cursor`,
    run: (runId: string) => `${prefix}:run:${runId}`,
    /** zset run id → data_interval_start ms, per export. */
    exportRuns: (exportId: string) => `${prefix}:runs:${exportId}`,
    /** consecutive failed runs of an export. */
    failures: (exportId: string) => `${prefix}:failures:${exportId}`,
    /** set while an alert about the export was sent in the last day. */
    alerted: (exportId: string) => `${prefix}:alerted:${exportId}`,
    backfill: (id: string) => `${prefix}:backfill:${id}`,
    /** list of the run ids a backfill covers, oldest first. */
    backfillRuns: (id: string) => `${prefix}:backfill:${id}:runs`,
    /** zset run id → data_interval_end ms of an export's runs not yet Completed nor Cancelled (lag). */
    pendingRuns: (exportId: string) => `${prefix}:pending:${exportId}`,
    /** hash status → runs in that status now; every status change moves it. */
    runsByStatus: `${prefix}:stats:runs-by-status`,
    /** hash `<export id>|rows` and `<export id>|bytes` → totals of the export's completed runs. */
    exportTotals: `${prefix}:stats:export-totals`,
    /** hash `<status>|<le>`, `<status>|count`, `<status>|sum_ms` → attempt durations; buckets not cumulative. */
    runDurations: `${prefix}:stats:run-durations`,
    /** JSON of one admin login, by the SHA-256 (hex) of its cookie's id; expires with the session. */
    adminSession: (idHash: string) => `${prefix}:admin-session:${idHash}`,
  };
}
export type StoreKeys = ReturnType<typeof storeKeys>;
