/** Upper bounds, in seconds, of the run duration histogram buckets (besides +Inf); lua/finish-run.lua has the same. */
export const RUN_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400] as const;
