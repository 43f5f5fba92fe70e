-- Puts a finished run back to Scheduled (manual retry, a backfill that runs
-- it again); 1 if done, 0 if the run is missing or not finished.
-- KEYS 1-6 as in track.lua, 7-8 the hash and open zset of the backfill that
-- runs it again (any key when none).
-- ARGV[1] now (ms), ARGV[2] that backfill's id or '', ARGV[3] its interval start ms.
-- @include track
local run = readRun()
local status = run.status
if not status or not FINAL[status] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'Scheduled', 'error', '', 'finished_at', '')
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'backfill_id', ARGV[2], 'bf_open', '1')
  redis.call('ZADD', KEYS[8], ARGV[3], run.id)
end
track(status, 'Scheduled', ARGV[1], run)
return 1
