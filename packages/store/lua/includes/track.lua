-- Status bookkeeping shared by every script that changes a run's status, so
-- the counters and indexes never disagree with the run records whatever comes
-- between. Keys of every such script:
--   KEYS[1] the run hash, KEYS[2] runs-by-status hash, KEYS[3] the export's
--   pending zset (lag), KEYS[4] its unfinished zset (window, pause),
--   KEYS[5] the finished zset (retention), KEYS[6] the export's runs zset.
local UNFINISHED = { Scheduled = true, Running = true, FailedRetryable = true }
local FINAL = { Completed = true, Failed = true, Cancelled = true }

-- The run's fields these functions read, and any `...` more, in one HMGET
-- (a run's start or finish read them with 5 to 7 HGETs): a table by field name.
local function readRun(...)
  local names = { 'status', 'id', 'interval_end_ms', 'bf_open', 'backfill_id', ... }
  local values = redis.call('HMGET', KEYS[1], unpack(names))
  local run = {}
  for i, name in ipairs(names) do run[name] = values[i] end
  return run
end

-- `run` is what readRun answered. Between two unfinished statuses (a run
-- starting, failing for a retry) no index changes: the run stays pending and
-- unfinished and is not finished, so only the counters move.
local function track(from, to, now, run)
  if from == to then return end
  if from then redis.call('HINCRBY', KEYS[2], from, -1) end
  if to then redis.call('HINCRBY', KEYS[2], to, 1) end
  if UNFINISHED[from] and UNFINISHED[to] then return end
  local runId = run.id
  if not runId then return end
  if not to or to == 'Completed' or to == 'Cancelled' then
    redis.call('ZREM', KEYS[3], runId)
  elseif run.interval_end_ms then
    redis.call('ZADD', KEYS[3], run.interval_end_ms, runId)
  end
  local startMs = to and UNFINISHED[to] and redis.call('ZSCORE', KEYS[6], runId)
  if startMs then
    redis.call('ZADD', KEYS[4], startMs, runId)
  else
    redis.call('ZREM', KEYS[4], runId)
  end
  if to and FINAL[to] then
    redis.call('ZADD', KEYS[5], now, runId)
  else
    redis.call('ZREM', KEYS[5], runId)
  end
end

-- A run that a backfill started reached a final status: counted once for that
-- backfill (its hash at KEYS[bf], its open zset at KEYS[bf + 1]). The backfill
-- is finished when every interval was started or skipped and none is open.
local function backfillFinal(bf, to, records, now, run)
  if not FINAL[to] or run.bf_open ~= '1' then return end
  run.bf_open = nil
  redis.call('HDEL', KEYS[1], 'bf_open')
  if redis.call('EXISTS', KEYS[bf]) == 0 then return end
  redis.call('ZREM', KEYS[bf + 1], run.id)
  redis.call('HINCRBY', KEYS[bf], 'finished_runs', 1)
  if to == 'Failed' then redis.call('HINCRBY', KEYS[bf], 'failed_runs', 1) end
  if to == 'Cancelled' then redis.call('HINCRBY', KEYS[bf], 'cancelled_runs', 1) end
  if to == 'Completed' and records then redis.call('HINCRBY', KEYS[bf], 'records_completed', records) end
  if redis.call('HGET', KEYS[bf], 'started_all') == '1' and redis.call('ZCARD', KEYS[bf + 1]) == 0 then
    redis.call('HSETNX', KEYS[bf], 'finished_ms', now)
  end
end

-- The backfill a run is open for, or ''.
local function openBackfill(run)
  if run.bf_open == '1' then return run.backfill_id or '' end
  return ''
end

-- The backfill a caller named (ARGV) must be the run's: else 'stale', and the
-- caller reads the run again.
local function backfillMismatch(named, run)
  if run.bf_open ~= '1' then return false end
  return (run.backfill_id or '') ~= named
end
