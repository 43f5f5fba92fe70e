-- Deletes a run record and its log, taking it out of the counters and
-- indexes. With ARGV[2] = '1' only a finished run is deleted (retention), and
-- a Completed one leaves its interval's slots set in the export's exported
-- bitmaps (slots.lua): an interval stays known as exported after its record
-- is gone. Answers 1 if deleted.
-- KEYS 1-6 as in track.lua, 7 the export's set of bitmap blocks, 8 the run's
-- log, 9-14 the bitmaps of the block of its interval start and of the next
-- (cover, bounds, cover, bounds, legacy, legacy: slots.lua).
-- ARGV[1] now (ms), ARGV[2] '1' for retention, ARGV[3] the block number of KEYS[9],
-- ARGV[4] the run id.
-- @include track
-- @include slots
local run = readRun()
local status = run.status
if not status then
  -- No record (evicted, or deleted by hand): its id must not stay in the indexes, where
  -- retention would read it first on every pass (500 such ids kept a pass from ever ending).
  for i = 3, 6 do redis.call('ZREM', KEYS[i], ARGV[4]) end
  redis.call('DEL', KEYS[8])
  return 0
end
if ARGV[2] == '1' then
  if not FINAL[status] then
    -- Not finished: not retention's (a run retried since it was read, which its script took out
    -- of the finished zset already; or an index that disagrees, which must not stop the pass).
    redis.call('ZREM', KEYS[5], ARGV[4])
    return 0
  end
  if status == 'Completed' then
    local s = tonumber(redis.call('ZSCORE', KEYS[6], run.id))
    local e = tonumber(run.interval_end_ms)
    if s and e then
      markExported(9, tonumber(ARGV[3]), s, e)
      redis.call('SADD', KEYS[7], ARGV[3], ARGV[3] + 1)
    end
  end
end
track(status, false, ARGV[1], run)
redis.call('ZREM', KEYS[6], run.id)
redis.call('DEL', KEYS[8])
return redis.call('DEL', KEYS[1])
