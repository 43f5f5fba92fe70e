-- Moves a run to Running and counts one more attempt (across manual retries
-- too). Not when its export is paused ('held': the run stays as it is until
-- unpause), nor when it was cancelled, completed or failed for good meanwhile.
-- A run found Running here was left by an attempt that never finished (its
-- worker was killed, ran out of memory, or lost its lock): after ARGV[4] such
-- attempts in a row it answers {'crashed', count, backfill id} instead, and
-- the worker fails the run for good rather than crash on it forever. An
-- attempt that only lost its lock takes itself off the count when it reports
-- back (finish-run.lua): only attempts that never report back add up.
-- Each start keeps ARGV[5], a random token of its attempt, as attempt_token:
-- with the attempt's number it names the attempt for the fence (attempt.lua).
-- Answers {'started', attempt, receipt version, backfill id or '', export,
-- 1 when an earlier run's record of the interval is gone (create-runs.lua) else 0}
-- or {why not}: the version this attempt's receipt gets if it completes, one
-- more than the last completed attempt's receipt (1 for the first).
-- With KEYS[8], the export's record: {'no-export'} when it is gone (nothing
-- changed), else the started answer carries it, so the worker reads the run
-- and its export in one round trip.
-- KEYS 1-6 as in track.lua, KEYS[7] the paused exports set, KEYS[8] the
-- export (optional). ARGV[1] now (ms), ARGV[2] started_at (ISO), ARGV[3] the
-- export id, ARGV[4] how many unfinished attempts in a row fail the run,
-- ARGV[5] the attempt's token.
-- @include track
local exportRecord = false
if KEYS[8] then
  exportRecord = redis.call('GET', KEYS[8])
  if not exportRecord then return { 'no-export' } end
end
local run = readRun('attempts', 'crashes', 'receipt', 'prior_unknown', 'error')
local status = run.status
if not status then return { 'missing' } end
if status == 'Cancelled' or status == 'Completed' then return { status } end
-- Failed for good (a retry sets it back to Scheduled first): a job that comes
-- back for it is one whose worker died after recording the failure, before the
-- queue heard of it. The failure stands; {'Failed', error}, nothing changed.
if status == 'Failed' then return { status, run.error or '' } end
if redis.call('SISMEMBER', KEYS[7], ARGV[3]) == 1 then return { 'held' } end
local fields = { 'status', 'Running', 'started_at', ARGV[2], 'started_ms', ARGV[1], 'finished_at', '', 'error', '' }
if status == 'Running' then
  local crashes = (tonumber(run.crashes) or 0) + 1
  if crashes >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'crashes', crashes)
    return { 'crashed', crashes, openBackfill(run) }
  end
  fields[#fields + 1] = 'crashes'
  fields[#fields + 1] = crashes
elseif run.crashes then
  redis.call('HDEL', KEYS[1], 'crashes')
end
local attempt = (tonumber(run.attempts) or 0) + 1
fields[#fields + 1] = 'attempts'
fields[#fields + 1] = attempt
fields[#fields + 1] = 'attempt_token'
fields[#fields + 1] = ARGV[5]
redis.call('HSET', KEYS[1], unpack(fields))
track(status, 'Running', ARGV[1], run)
local version = 1
if run.receipt then
  local ok, decoded = pcall(cjson.decode, run.receipt)
  if ok and type(decoded) == 'table' and tonumber(decoded.version) then version = tonumber(decoded.version) + 1 end
end
return { 'started', attempt, version, openBackfill(run), exportRecord, run.prior_unknown and 1 or 0 }
