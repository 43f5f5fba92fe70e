-- Appends lines to a run's log, keeping the last ARGV[1] of them; nothing
-- when the run has no record (deleted meanwhile), so no log outlives its run.
-- KEYS[1] the run hash, KEYS[2] its log list. ARGV[2..] the lines.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[1]), -1)
return 1
