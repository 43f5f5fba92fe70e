-- Extends a lock only while it still holds this owner's token.
-- KEYS[1] the lock, ARGV[1] the token, ARGV[2] its new time to live (ms).
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
