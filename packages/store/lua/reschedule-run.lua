-- Puts a finished run back to Scheduled (manual retry, a backfill that runs
-- it again); 1 if done, 0 if the run is missing or not finished, 'stale' if
-- the caller named another backfill than the one the run is open for.
-- A final run still open for a backfill (only a torn write leaves one so:
-- settle-backfill.lua) counts for that backfill first, as its finish would
-- have: else, taken over by another backfill, it stranded the first one.
-- So does one a tear cut after finish-run's HDEL of `bf_open` and before its
-- ZREM: not open by its flag, yet still in its backfill's open zset.
-- A backfill that takes a run over keeps the run's backfill before it in
-- `prior_backfills` (the latest first).
-- KEYS 1-6 as in track.lua, 7-8 the hash and open zset of the backfill that
-- runs it again (any key when none), 9-10 those of the backfill the run is
-- open for, or else of its `backfill_id` (any key when none).
-- ARGV[1] now (ms), ARGV[2] that backfill's id or '', ARGV[3] its interval start ms,
-- ARGV[4] the backfill the run is open for, as the caller read it, or '',
-- ARGV[5] the run's `backfill_id` as the caller read it (KEYS 9-10's backfill when
-- ARGV[4] is ''), or '' (the previous release passes no ARGV[5]).
-- @include track
local PRIOR = 8
local run = readRun('records_completed', 'prior_backfills')
local status = run.status
if not status or not FINAL[status] then return 0 end
if backfillMismatch(ARGV[4], run) then return 'stale' end
if run.bf_open ~= '1' and ARGV[5] and ARGV[5] ~= '' then
  if (run.backfill_id or '') ~= ARGV[5] then return 'stale' end
  -- A torn finish cut between its HDEL and its ZREM: counted as the rest of it would have.
  if redis.call('ZSCORE', KEYS[10], run.id) then run.bf_open = '1' end
end
backfillFinal(9, status, tonumber(run.records_completed) and run.records_completed, ARGV[1], run)
redis.call('HSET', KEYS[1], 'status', 'Scheduled', 'error', '', 'finished_at', '')
if ARGV[2] ~= '' then
  local prior = run.backfill_id
  if prior and prior ~= '' and prior ~= ARGV[2] then
    -- The backfill it was (and that counted it) is kept, so that a step of it redone (its cursor's
    -- move lost) knows the run as its own (create-runs.lua): the last PRIOR of them.
    local ids = { prior }
    for other in string.gmatch(run.prior_backfills or '', '%S+') do
      if #ids < PRIOR and other ~= prior and other ~= ARGV[2] then ids[#ids + 1] = other end
    end
    redis.call('HSET', KEYS[1], 'prior_backfills', table.concat(ids, ' '))
  end
  redis.call('HSET', KEYS[1], 'backfill_id', ARGV[2], 'bf_open', '1')
  redis.call('ZADD', KEYS[8], ARGV[3], run.id)
end
track(status, 'Scheduled', ARGV[1], run)
return 1
