-- Cancels a backfill: no more of its intervals start, and those never
-- started count as cancelled. Its open runs are cancelled by the caller, one
-- by one (cancel-run.lua counts each); meanwhile it waits for them in the
-- settling set, as a backfill that started its last interval does
-- (advance-backfill.lua). Answers the open run ids, or false if the backfill
-- was already cancelled or done starting and has none open, or 'moved' if
-- its cursor is not the one the caller counted the intervals never started
-- from (a step ran meanwhile): the caller reads it again.
-- KEYS[1] the backfill hash, KEYS[2] its open zset, KEYS[3] the active backfills zset,
-- KEYS[4] the settling backfills zset.
-- ARGV[1] intervals never started, ARGV[2] now (ms), ARGV[3] the cursor they were
-- counted from (the previous release passes none: not compared).
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local open = redis.call('ZRANGE', KEYS[2], 0, -1)
if redis.call('HGET', KEYS[1], 'cancelled') == '1' then return open end
if redis.call('HGET', KEYS[1], 'finished_ms') then return false end
if ARGV[3] and redis.call('HGET', KEYS[1], 'cursor') ~= ARGV[3] then return 'moved' end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'cancelled', '1', 'started_all', '1')
redis.call('ZREM', KEYS[3], id)
if ARGV[1] ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'finished_runs', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'cancelled_runs', ARGV[1])
end
if #open == 0 then
  redis.call('HSETNX', KEYS[1], 'finished_ms', ARGV[2])
else
  redis.call('ZADD', KEYS[4], 'NX', ARGV[2], id)
end
return open
