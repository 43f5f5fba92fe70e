-- Deletes a run record and its log, taking it out of the counters and
-- indexes. With ARGV[2] = '1' only a finished run is deleted (retention), and
-- a Completed one leaves its interval in the export's exported ranges, merged
-- with its neighbours: an interval stays known as exported after its record
-- is gone. Answers 1 if deleted.
-- KEYS 1-6 as in track.lua, 7 the export's exported ranges, 8 the run's log.
-- ARGV[1] now (ms), ARGV[2] '1' for retention.
-- @include track
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('DEL', KEYS[8])
  return 0
end
if ARGV[2] == '1' then
  if not FINAL[status] then return 0 end
  if status == 'Completed' then
    local s = tonumber(redis.call('ZSCORE', KEYS[6], redis.call('HGET', KEYS[1], 'id')))
    local e = tonumber(redis.call('HGET', KEYS[1], 'interval_end_ms'))
    if s and e then
      -- a range that starts at or before s and reaches it
      local before = redis.call('ZREVRANGEBYSCORE', KEYS[7], s, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
      if before[1] then
        local be = tonumber(string.match(before[1], ':(%d+)$'))
        if be >= s then
          s = tonumber(before[2])
          if be > e then e = be end
          redis.call('ZREM', KEYS[7], before[1])
        end
      end
      -- ranges that start inside [s, e]
      local after = redis.call('ZRANGEBYSCORE', KEYS[7], s, e)
      for _, member in ipairs(after) do
        local ae = tonumber(string.match(member, ':(%d+)$'))
        if ae > e then e = ae end
        redis.call('ZREM', KEYS[7], member)
      end
      redis.call('ZADD', KEYS[7], s, string.format('%d:%d', s, e))
    end
  end
end
track(status, false, ARGV[1])
redis.call('ZREM', KEYS[6], redis.call('HGET', KEYS[1], 'id'))
redis.call('DEL', KEYS[8])
return redis.call('DEL', KEYS[1])
