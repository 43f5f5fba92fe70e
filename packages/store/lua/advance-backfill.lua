-- Moves a backfill's cursor past the intervals one step started or skipped,
-- only if nobody moved it since it was read. When every interval is started
-- or skipped, the backfill leaves the active set, and is finished if none of
-- its runs is still open, else waits for them in the settling set (the
-- stranded-run repair settles what a torn write leaves there). Answers 1 if moved.
-- KEYS[1] the backfill hash, KEYS[2] its open zset, KEYS[3] the active backfills zset,
-- KEYS[4] the settling backfills zset.
-- ARGV[1] cursor read, ARGV[2] new cursor, ARGV[3] intervals skipped,
-- ARGV[4] '1' when every interval is now started or skipped, ARGV[5] now (ms).
if redis.call('HGET', KEYS[1], 'cursor') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'cancelled') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
if ARGV[3] ~= '0' then redis.call('HINCRBY', KEYS[1], 'skipped_runs', ARGV[3]) end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'started_all', '1')
  local id = redis.call('HGET', KEYS[1], 'id')
  redis.call('ZREM', KEYS[3], id)
  if redis.call('ZCARD', KEYS[2]) == 0 then
    redis.call('HSETNX', KEYS[1], 'finished_ms', ARGV[5])
  else
    redis.call('ZADD', KEYS[4], 'NX', ARGV[5], id)
  end
end
return 1
