-- Takes an export off the schedule if it is gone, paused or has no cursor
-- now: the scheduler decides from what it read, and an unpause that
-- scheduled the export meanwhile must not be undone (it would never run).
-- KEYS[1] the export, KEYS[2] the set of paused exports, KEYS[3] the cursors hash,
-- KEYS[4] the schedule zset. ARGV[1] its id.
-- Returns 1 when taken off, 0 when it stays.
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0
    and redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return 0
end
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
