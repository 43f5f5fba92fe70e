-- Counts for a backfill the runs that reached a final status while still
-- open for it: no script leaves one so (finish-run.lua and cancel-run.lua
-- count a run in the step that ends it), but a torn write does. Redis that
-- loads an append-only file cut inside a script's transaction (a machine
-- crash under appendfsync everysec, aof-load-truncated) keeps the commands
-- of its first part in the file, and the next restart after that applies
-- them: a run's status Completed, without the rest of its finish. The
-- backfill then waited for that run for ever. Then, as a run's count does,
-- finishes the backfill when every interval was started or skipped and none
-- is open. Answers how many runs it counted. Run by the scheduler's
-- stranded-run repair (BackfillRepository.settleWaiting), never by a read.
-- KEYS[1] the backfill hash, KEYS[2] its open zset, KEYS[3 ..] run hashes.
-- ARGV[1] now (ms), ARGV[2] the backfill id, ARGV[3 ..] the runs' ids (as KEYS).
local FINAL = { Completed = true, Failed = true, Cancelled = true }
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local counted = 0
for i = 3, #KEYS do
  local id = ARGV[i]
  local run = redis.call('HMGET', KEYS[i], 'status', 'bf_open', 'backfill_id', 'records_completed')
  if not redis.call('ZSCORE', KEYS[2], id) then
    -- not open for it (any more): nothing to count
  elseif run[3] ~= ARGV[2] then
    -- Open for it, yet the run is gone or another's: a torn run rewritten for a new interval
    -- (create-runs.lua) or deleted. What it did for this backfill is not known: not exported by it.
    redis.call('ZREM', KEYS[2], id)
    redis.call('HINCRBY', KEYS[1], 'skipped_runs', 1)
    counted = counted + 1
  elseif FINAL[run[1]] then
    -- Not `bf_open` too: the tear may come after finish-run's HDEL of it and before its ZREM. Outside
    -- a torn write a final run is never in an open set, so this counts nothing twice.
    redis.call('HDEL', KEYS[i], 'bf_open')
    redis.call('ZREM', KEYS[2], id)
    redis.call('HINCRBY', KEYS[1], 'finished_runs', 1)
    if run[1] == 'Failed' then redis.call('HINCRBY', KEYS[1], 'failed_runs', 1) end
    if run[1] == 'Cancelled' then redis.call('HINCRBY', KEYS[1], 'cancelled_runs', 1) end
    if run[1] == 'Completed' and tonumber(run[4]) then
      redis.call('HINCRBY', KEYS[1], 'records_completed', run[4])
    end
    counted = counted + 1
  end
end
if redis.call('HGET', KEYS[1], 'started_all') == '1' and redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('HSETNX', KEYS[1], 'finished_ms', ARGV[1])
end
return counted
