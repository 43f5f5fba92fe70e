-- Creates each run that does not exist yet, for a batch of runs of any
-- number of exports (a scheduler tick, a backfill step): one call per batch,
-- not one per run. One record per (export, data_interval_start) holds even
-- with several schedulers. An interval is done only when a run covered
-- exactly it: a finished record of the same start with another end (the
-- export's interval changed) is rewritten for this interval, as new.
-- Answers per run: 'created'; 'rewritten' (such a record: its old job may
-- linger in the queue); 'other:<status>' (a record of the same start with
-- another end has not finished: the caller waits); 'Exported' when the
-- interval's record is gone but it is known exported (retention); the
-- existing status, prefixed 'mine:' when the run is the backfill's that
-- creates it (open for it: a step that crashed before enqueueing; or already
-- counted by it: a step redone after its cursor's move was lost), or
-- 'counted:' when it counted the run before another backfill took it over
-- (reschedule-run.lua keeps it in prior_backfills). A record created
-- where an earlier run's record is gone (rewritten, or removed by retention:
-- its slots are marked) gets prior_unknown = '1': what that run left at the
-- destination, and the state it kept, are unknown.
-- KEYS[1] runs-by-status, KEYS[2] finished runs; the rest are named by index from ARGV.
-- ARGV[1] created_at (ISO), ARGV[2] '1' to create runs of intervals known
-- exported too (a forced backfill), then 12 values per run: the index in KEYS of the
-- run hash; of the export's runs, pending and unfinished zsets (3
-- consecutive keys); of the backfill hash and its open zset (2 consecutive
-- keys; 0 for none); of the exported bitmaps of the block of the interval
-- start and the next (6 consecutive keys, slots.lua); that
-- first block's number; run id, export id, start ms, end ms, start ISO, end
-- ISO, backfill id or ''.
-- @include slots
local N = 12
local UNFINISHED = { Scheduled = true, Running = true, FailedRetryable = true }
-- What a rewritten record loses of the run it was.
local OLD = { 'records_completed', 'bytes_exported', 'files', 'error', 'started_at', 'started_ms', 'finished_at',
  'receipt', 'state', 'attempts', 'attempt_token', 'crashes', 'backfill_id', 'bf_open', 'prior_backfills' }
local out = {}
local created = 0
for i = 3, #ARGV, N do
  local runKey = KEYS[tonumber(ARGV[i])]
  local e = tonumber(ARGV[i + 1])
  local bf = tonumber(ARGV[i + 2])
  local blocks, blockA = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local id, exportId, startMs, endMs = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local backfillId = ARGV[i + 11]
  local found = redis.call('HMGET', runKey, 'status', 'interval_end_ms')
  local status, oldEnd = found[1], found[2]
  local create = false
  if status and oldEnd and oldEnd ~= endMs then
    if UNFINISHED[status] then
      out[#out + 1] = 'other:' .. status
    else
      redis.call('HDEL', runKey, unpack(OLD))
      redis.call('HINCRBY', KEYS[1], status, -1)
      redis.call('ZREM', KEYS[2], id)
      create = 'rewritten'
    end
  elseif status then
    -- This backfill's run: open for it, or brought to a final status and
    -- counted by it already. Asked again only when a step is redone (its
    -- cursor's move was lost: a crash, or Redis losing its last second); a
    -- final run answered by its status alone would be skipped (counted twice)
    -- or, Failed, run and counted again.
    local owner = backfillId ~= '' and redis.call('HMGET', runKey, 'backfill_id', 'prior_backfills')
    if owner and owner[1] == backfillId then
      out[#out + 1] = 'mine:' .. status
    elseif owner and owner[2] and string.find(' ' .. owner[2] .. ' ', ' ' .. backfillId .. ' ', 1, true) then
      -- Counted by it, then run again by another backfill (reschedule-run.lua): not its own any
      -- more, neither to skip (counted twice) nor to run again.
      out[#out + 1] = 'counted:' .. status
    else
      out[#out + 1] = status
    end
  elseif ARGV[2] ~= '1' and isExported(blocks, blockA, tonumber(startMs), tonumber(endMs)) then
    out[#out + 1] = 'Exported'
  else
    create = 'created'
  end
  if create then
    redis.call('HSET', runKey, 'id', id, 'export_id', exportId, 'data_interval_start', ARGV[i + 9],
      'data_interval_end', ARGV[i + 10], 'status', 'Scheduled', 'created_at', ARGV[1],
      'interval_end_ms', endMs)
    if create == 'rewritten' or anyMarked(blocks, blockA, tonumber(startMs), tonumber(endMs)) then
      redis.call('HSET', runKey, 'prior_unknown', '1')
    end
    if backfillId ~= '' then
      redis.call('HSET', runKey, 'backfill_id', backfillId, 'bf_open', '1')
      redis.call('ZADD', KEYS[bf + 1], startMs, id)
    end
    redis.call('ZADD', KEYS[e], startMs, id)
    redis.call('ZADD', KEYS[e + 1], endMs, id)
    redis.call('ZADD', KEYS[e + 2], startMs, id)
    created = created + 1
    out[#out + 1] = create
  end
end
if created > 0 then redis.call('HINCRBY', KEYS[1], 'Scheduled', created) end
return out
