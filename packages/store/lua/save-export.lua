-- Saves a changed export only if it still exists: a change that read the
-- export before a DELETE must not write it back (it answered again, out of
-- every list, and the scheduler ran it).
-- KEYS[1] the export, KEYS[2] the set of paused exports.
-- ARGV[1] the export (JSON), ARGV[2] its id, ARGV[3] '1' if it is paused.
-- Returns 1 when saved, 0 when the export is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] == '1' then
  redis.call('SADD', KEYS[2], ARGV[2])
else
  redis.call('SREM', KEYS[2], ARGV[2])
end
return 1
