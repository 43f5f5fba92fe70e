-- Moves a run to Running and counts one more attempt (across manual retries
-- too). Not when its export is paused ('held': the run stays as it is until
-- unpause), nor when it was cancelled or completed meanwhile.
-- A run found Running here was left by an attempt that never finished (its
-- worker was killed, ran out of memory, or lost its lock): after ARGV[4] such
-- attempts in a row it answers 'crashed|<count>|<backfill id>' instead, and
-- the worker fails the run for good rather than crash on it forever.
-- Answers '<attempt>|<receipt version>|<backfill id or empty>' or why not:
-- the version this attempt's receipt gets if it completes, one more than the
-- last completed attempt's receipt (1 for the first).
-- KEYS 1-6 as in track.lua, KEYS[7] the paused exports set.
-- ARGV[1] now (ms), ARGV[2] started_at (ISO), ARGV[3] the export id,
-- ARGV[4] how many unfinished attempts in a row fail the run.
-- @include track
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'Cancelled' or status == 'Completed' then return status end
if redis.call('SISMEMBER', KEYS[7], ARGV[3]) == 1 then return 'held' end
local function openBackfill()
  if redis.call('HGET', KEYS[1], 'bf_open') == '1' then
    return redis.call('HGET', KEYS[1], 'backfill_id') or ''
  end
  return ''
end
if status == 'Running' then
  local crashes = redis.call('HINCRBY', KEYS[1], 'crashes', 1)
  if crashes >= tonumber(ARGV[4]) then return 'crashed|' .. crashes .. '|' .. openBackfill() end
else
  redis.call('HDEL', KEYS[1], 'crashes')
end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'Running', 'started_at', ARGV[2], 'started_ms', ARGV[1],
  'finished_at', '', 'error', '')
track(status, 'Running', ARGV[1])
local version = 1
local receipt = redis.call('HGET', KEYS[1], 'receipt')
if receipt then
  local ok, decoded = pcall(cjson.decode, receipt)
  if ok and type(decoded) == 'table' and tonumber(decoded.version) then version = tonumber(decoded.version) + 1 end
end
return tostring(attempt) .. '|' .. tostring(version) .. '|' .. openBackfill()
