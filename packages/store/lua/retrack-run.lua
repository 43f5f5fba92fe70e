-- Puts a final run that is still in its export's unfinished index where its
-- status says: no script leaves one so (track.lua moves the indexes in the
-- step that sets the status), but a torn write does (settle-backfill.lua:
-- Redis replaying the first part of a script's transaction). Left so, the
-- run held a place in its export's window, and as pending its interval end
-- held the export's lag (/metrics) for ever. Only the indexes: the status
-- counters may or may not have moved before the tear, so they are left as
-- they are. Answers 1 if it moved the run.
-- KEYS 1-6 as in track.lua. ARGV[1] now (ms).
-- @include track
local run = readRun()
local status = run.status
if not FINAL[status] or not run.id or not redis.call('ZSCORE', KEYS[4], run.id) then return 0 end
if status ~= 'Failed' then
  redis.call('ZREM', KEYS[3], run.id)
elseif run.interval_end_ms then
  redis.call('ZADD', KEYS[3], run.interval_end_ms, run.id)
end
redis.call('ZREM', KEYS[4], run.id)
redis.call('ZADD', KEYS[5], 'NX', ARGV[1], run.id)
return 1
