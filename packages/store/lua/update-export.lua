-- Writes a changed export only if it is still the version the change was made
-- from: two writers (PATCH, pause, auto-pause, rotate-secrets) never lose each
-- other's change, and a deleted export is never written back. The paused set
-- and the schedule follow the record in the same step: a paused export is
-- taken off the schedule here, not by a later call another writer could
-- overtake.
-- KEYS[1] the export, KEYS[2] the set of paused exports, KEYS[3] the schedule zset.
-- ARGV[1] the export as read, ARGV[2] the changed export, ARGV[3] its id,
-- ARGV[4] '1' if it is paused.
-- Returns 1 when written, 0 when the export changed since it was read, -1 when it is gone.
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[3])
else
  redis.call('SREM', KEYS[2], ARGV[3])
end
return 1
