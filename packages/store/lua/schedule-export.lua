-- Sets an export's cursor and due time, computed from one version of the
-- export and of its cursor, only if both are still those: a PATCH or an
-- unpause that lost a race to a pause, a DELETE, another PATCH or the
-- scheduler's advance must not schedule from what it read.
-- KEYS[1] the export, KEYS[2] the set of paused exports, KEYS[3] the cursors hash,
-- KEYS[4] the schedule zset.
-- ARGV[1] the export as read, ARGV[2] its id, ARGV[3] the cursor read ('' none),
-- ARGV[4] the new cursor, ARGV[5] the due time in ms ('' not due: unscheduled).
-- Returns 1 when set, 0 when the export or its cursor changed, -1 when the
-- export is gone or paused (nothing to schedule).
local current = redis.call('GET', KEYS[1])
if not current or redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return -1 end
if current ~= ARGV[1] then return 0 end
local cursor = redis.call('HGET', KEYS[3], ARGV[2])
if (cursor or '') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[4], ARGV[2])
else
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
end
return 1
