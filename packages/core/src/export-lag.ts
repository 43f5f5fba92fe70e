import { spanFrom, type IntervalName } from './interval-calendar';

/**
 * How far an export is behind at `now`, in seconds: `now` minus the end of the
 * oldest interval it has not exported yet, never negative.
 *
 * That interval is its oldest run that is not Completed (Scheduled, Running,
 * FailedRetryable or Failed; a Cancelled run was given up on purpose) or, when
 * every run is done, the interval at the schedule cursor, the next one to be
 * scheduled. So an export that keeps up lags by at most its settle time once
 * an interval ends; one that fails, is paused or has no worker lags more every
 * second. 0 once the schedule has reached `end_at` with every run done.
 */
export function exportLagSeconds(
  now: number,
  progress: { oldestPendingEnd: number | null; cursor: number | null },
  exp: { interval: IntervalName; timezone: string; end_at: string | null },
): number {
  let end = progress.oldestPendingEnd;
  if (end === null) {
    if (progress.cursor === null) return 0;
    if (exp.end_at && progress.cursor >= Date.parse(exp.end_at)) return 0;
    end = spanFrom(progress.cursor, exp.interval, exp.timezone).end;
  }
  return Math.max(0, (now - end) / 1000);
}
