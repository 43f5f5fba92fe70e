-- Sets a final or retryable status only while the run is Running (a run
-- cancelled meanwhile stays Cancelled), and only by its latest attempt: a
-- worker that lost its lock (Redis away longer than the lock lasts) may still
-- be running an attempt that another worker has since started again. A
-- completed run adds its rows and bytes to the export's totals and ends its
-- export's streak of failed runs (here, not in a round trip of its own);
-- every finished attempt adds its duration; a run a backfill started counts
-- for it. With the status it keeps the attempt's log lines not yet written
-- (the last of them the outcome's), when it records the status only: a
-- tiny run's log then costs no call of its own.
-- KEYS 1-6 as in track.lua, 7 export totals, 8 durations, 9-10 the
-- backfill's hash and open zset (any key when none), 11 the export's
-- consecutive failures, 12 the run's log.
-- ARGV[1] now (ms), ARGV[2] the new status, ARGV[3] rows, ARGV[4] bytes,
-- ARGV[5] the attempt or '', ARGV[6] its token or '' (attempt.lua), ARGV[7]
-- the run's backfill or '', ARGV[8] how many log lines the run keeps,
-- ARGV[9] how many lines follow (L), ARGV[10 .. 9 + L] the lines,
-- ARGV[10 + L ..] more fields of the run.
-- @include track
-- @include attempt
local BOUNDS = { 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400 }
local run = readRun('attempts', 'attempt_token', 'export_id', 'started_ms')
local status = run.status
if not status then return 'missing' end
if ARGV[5] ~= '' and not isLatestAttempt(run.attempts, run.attempt_token, run.started_ms, ARGV[5], ARGV[6]) then
  -- An earlier attempt reporting back: its worker lost the lock (Redis away or
  -- slow, an event loop held up, the process frozen) but was not killed. Told
  -- so whatever the run's status now (the later attempt may have completed it):
  -- its outcome is not the run's, and its failure counts for nothing. The start
  -- of the attempt that took over counted it as one that never finished: not a
  -- crash after all.
  local crashes = tonumber(redis.call('HGET', KEYS[1], 'crashes'))
  if crashes and crashes > 0 then redis.call('HINCRBY', KEYS[1], 'crashes', -1) end
  return 'Superseded'
end
if status ~= 'Running' then return status end
if backfillMismatch(ARGV[7], run) then return 'stale' end
local lines = tonumber(ARGV[9])
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 10 + lines))
if lines > 0 then
  redis.call('RPUSH', KEYS[12], unpack(ARGV, 10, 9 + lines))
  redis.call('LTRIM', KEYS[12], -tonumber(ARGV[8]), -1)
end
track(status, ARGV[2], ARGV[1], run)
backfillFinal(9, ARGV[2], ARGV[3], ARGV[1], run)
if ARGV[2] == 'Completed' then
  -- An empty interval adds nothing (a missing total reads as 0).
  if ARGV[3] ~= '0' then redis.call('HINCRBY', KEYS[7], run.export_id .. '|rows', ARGV[3]) end
  if ARGV[4] ~= '0' then redis.call('HINCRBY', KEYS[7], run.export_id .. '|bytes', ARGV[4]) end
  redis.call('DEL', KEYS[11])
end
local started = tonumber(run.started_ms)
if started then
  local ms = math.max(0, tonumber(ARGV[1]) - started)
  local le = '+Inf'
  for _, bound in ipairs(BOUNDS) do
    if ms <= bound * 1000 then
      le = tostring(bound)
      break
    end
  end
  -- No `|count` field: the count is the sum of the buckets (stats-repository.ts).
  redis.call('HINCRBY', KEYS[8], ARGV[2] .. '|' .. le, 1)
  redis.call('HINCRBY', KEYS[8], ARGV[2] .. '|sum_ms', string.format('%d', ms))
end
return 'ok'
