-- Sets a final or retryable status only while the run is Running (a run
-- cancelled meanwhile stays Cancelled), and only by its latest attempt: a
-- worker that lost its lock (Redis away longer than the lock lasts) may still
-- be running an attempt that another worker has since started again. A
-- completed run adds its rows and bytes to the export's totals and ends its
-- export's streak of failed runs (here, not in a round trip of its own);
-- every finished attempt adds its duration; a run a backfill started counts
-- for it.
-- KEYS 1-6 as in track.lua, 7 export totals, 8 durations, 9-10 the
-- backfill's hash and open zset (any key when none), 11 the export's
-- consecutive failures.
-- ARGV[1] now (ms), ARGV[2] the new status, ARGV[3] rows, ARGV[4] bytes,
-- ARGV[5] the attempt or '', ARGV[6] the run's backfill or '', ARGV[7..] more fields.
-- @include track
local BOUNDS = { 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400 }
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'Running' then return status or 'missing' end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[5] then return 'Superseded' end
if backfillMismatch(ARGV[6]) then return 'stale' end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 7))
track(status, ARGV[2], ARGV[1])
backfillFinal(9, ARGV[2], ARGV[3], ARGV[1])
if ARGV[2] == 'Completed' then
  local exportId = redis.call('HGET', KEYS[1], 'export_id')
  redis.call('HINCRBY', KEYS[7], exportId .. '|rows', ARGV[3])
  redis.call('HINCRBY', KEYS[7], exportId .. '|bytes', ARGV[4])
  redis.call('DEL', KEYS[11])
end
local started = tonumber(redis.call('HGET', KEYS[1], 'started_ms'))
if started then
  local ms = math.max(0, tonumber(ARGV[1]) - started)
  local le = '+Inf'
  for _, bound in ipairs(BOUNDS) do
    if ms <= bound * 1000 then
      le = tostring(bound)
      break
    end
  end
  redis.call('HINCRBY', KEYS[8], ARGV[2] .. '|' .. le, 1)
  redis.call('HINCRBY', KEYS[8], ARGV[2] .. '|count', 1)
  redis.call('HINCRBY', KEYS[8], ARGV[2] .. '|sum_ms', string.format('%d', ms))
end
return 'ok'
