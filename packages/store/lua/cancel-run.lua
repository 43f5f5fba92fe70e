-- Cancels a run that has not finished; 1 if it was cancelled, 0 if it had
-- finished, 'stale' if the caller named another backfill than the run's.
-- KEYS 1-6 as in track.lua, 7-8 the backfill's hash and open zset.
-- ARGV[1] now (ms), ARGV[2] finished_at (ISO), ARGV[3] the run's backfill or ''.
-- @include track
local run = readRun()
local status = run.status
if not status or FINAL[status] then return 0 end
if backfillMismatch(ARGV[3], run) then return 'stale' end
redis.call('HSET', KEYS[1], 'status', 'Cancelled', 'finished_at', ARGV[2])
track(status, 'Cancelled', ARGV[1], run)
backfillFinal(7, 'Cancelled', nil, ARGV[1], run)
return 1
