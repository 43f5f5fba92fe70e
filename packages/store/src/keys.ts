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
    /**
     * Present (a day at most) while a change that schedules an export from its
     * stored cursor is under way (an unpause with backfill, a PATCH): a repair
     * of the change cut short resumes from the cursor, not from now.
     */
    keepCursor: (exportId: string) => `${prefix}:keep-cursor:${exportId}`,
    run: (runId: string) => `${prefix}:run:${runId}`,
    /** list of a run's log lines (JSON), the newest last; bounded. */
    runLog: (runId: string) => `${prefix}:runlog:${runId}`,
    /** zset run id → data_interval_start ms, per export: every run record of the export. */
    exportRuns: (exportId: string) => `${prefix}:runs:${exportId}`,
    /** zset run id → data_interval_end ms of an export's runs not yet Completed nor Cancelled (lag). */
    pendingRuns: (exportId: string) => `${prefix}:pending:${exportId}`,
    /** zset run id → data_interval_start ms of an export's runs Scheduled, Running or FailedRetryable. */
    unfinishedRuns: (exportId: string) => `${prefix}:unfinished:${exportId}`,
    /**
     * Bitmap of one block (365 days) of an export's 5-minute slots: a bit is
     * set when an exported interval whose run record is gone (retention)
     * covered that slot. 13 KB per export-year at most, whatever the pattern.
     */
    exportedBlock: (exportId: string, block: number) => `${prefix}:exported:${exportId}:${block}`,
    /**
     * Bitmap of the same block's slot boundaries where such an interval
     * started or ended: an interval is known exported only as exactly the
     * interval it was (lua/includes/slots.lua). Absent for marks of earlier versions.
     */
    exportedBounds: (exportId: string, block: number) => `${prefix}:exported-bounds:${exportId}:${block}`,
    /**
     * Bitmap of the same block's marks written before bounds existed (cover
     * bits alone), kept when the block's first bounds land: they count as
     * every slot covered (lua/includes/slots.lua).
     */
    exportedLegacy: (exportId: string, block: number) => `${prefix}:exported-legacy:${exportId}:${block}`,
    /** set of the blocks an export has bitmaps for (deletion). */
    exportedBlocks: (exportId: string) => `${prefix}:exported-blocks:${exportId}`,
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
    /**
     * zset backfill id → ms it entered the set: when it started its last
     * interval, or was cancelled, with runs still open (or when the repair
     * enrolled one an earlier version left out). The stranded-run repair
     * settles those a torn write left waiting (lua/settle-backfill.lua) and
     * drops the finished ones.
     */
    settlingBackfills: `${prefix}:backfills-settling`,
    /** string, epoch ms: when the stranded-run repair put every earlier backfill in the settling set (once). */
    backfillsEnrolled: `${prefix}:backfills-enrolled`,
    /** hash status → runs in that status now; every status change moves it. */
    runsByStatus: `${prefix}:stats:runs-by-status`,
    /** hash `<export id>|rows` and `<export id>|bytes` → totals of the export's completed runs. */
    exportTotals: `${prefix}:stats:export-totals`,
    /** hash `<status>|<le>`, `<status>|sum_ms` → attempt durations; buckets not cumulative (earlier versions also kept `<status>|count`). */
    runDurations: `${prefix}:stats:run-durations`,
    /**
     * hash interval start ms → what the reconciler last found for that
     * interval of the export (reconciliation-repository.ts); bounded by the
     * reconcile window, mismatches by the run retention.
     */
    reconciliation: (exportId: string) => `${prefix}:reconcile:${exportId}`,
    /** short lock of one export's reconciliation (several schedulers). */
    reconcileLock: (exportId: string) => `${prefix}:reconcile-lock:${exportId}`,
    /** hash `<export id>|checked`, `|mismatches`, `|late_rows`, `|repairs` → the reconciler's counters. */
    reconcileStats: `${prefix}:stats:reconcile`,
    /** Before the export index (first version): sets of export ids. Read once by the migration. */
    legacyAllExports: `${prefix}:exports`,
    /** JSON of one admin login, by the SHA-256 (hex) of its cookie's id; expires with the session. */
    adminSession: (idHash: string) => `${prefix}:admin-session:${idHash}`,
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

/** The interval start (epoch ms) inside a run id. */
export function intervalStartOfRun(runId: string): number {
  const t = runId.slice(-16); // YYYYMMDDTHHMMSSZ
  return Date.UTC(
    +t.slice(0, 4),
    +t.slice(4, 6) - 1,
    +t.slice(6, 8),
    +t.slice(9, 11),
    +t.slice(11, 13),
    +t.slice(13, 15),
  );
}

/** Width of a slot of the exported bitmaps (the shortest interval), in ms. */
export const EXPORTED_SLOT_MS = 300_000;
/** Slots per bitmap block: 365 days. */
export const EXPORTED_BLOCK_SLOTS = 105_120;

/** The bitmap block holding the slot of an instant. */
export function exportedBlockOf(ms: number): number {
  return Math.floor(Math.floor(ms / EXPORTED_SLOT_MS) / EXPORTED_BLOCK_SLOTS);
}
