-- Moves a run to Running and counts one more attempt (across manual retries
-- too). Not when its export is paused ('held': the run stays as it is until
-- unpause), nor when it was cancelled or completed meanwhile.
-- Answers '<attempt>|<backfill id or empty>' or why not.
-- KEYS 1-6 as in track.lua, KEYS[7] the paused exports set.
-- ARGV[1] now (ms), ARGV[2] started_at (ISO), ARGV[3] the export id.
-- @include track
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'Cancelled' or status == 'Completed' then return status end
if redis.call('SISMEMBER', KEYS[7], ARGV[3]) == 1 then return 'held' end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'Running', 'started_at', ARGV[2], 'started_ms', ARGV[1],
  'finished_at', '', 'error', '')
track(status, 'Running', ARGV[1])
local backfillId = ''
if redis.call('HGET', KEYS[1], 'bf_open') == '1' then
  backfillId = redis.call('HGET', KEYS[1], 'backfill_id') or ''
end
return tostring(attempt) .. '|' .. backfillId
