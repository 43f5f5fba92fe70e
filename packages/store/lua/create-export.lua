-- Stores a new export with its schedule, unless the deployment already holds
-- its maximum number of exports. Answers 1, or 0 when full.
-- KEYS[1] the export, KEYS[2] the export index, KEYS[3] its team's index,
-- KEYS[4] the cursors hash, KEYS[5] the schedule zset, KEYS[6] the paused set.
-- ARGV[1] the export (JSON), ARGV[2] its index member, ARGV[3] its id,
-- ARGV[4] its cursor, ARGV[5] its due time or '', ARGV[6] the maximum,
-- ARGV[7] '1' if it starts paused.
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[5], ARGV[5], ARGV[3]) end
if ARGV[7] == '1' then redis.call('SADD', KEYS[6], ARGV[3]) end
return 1
