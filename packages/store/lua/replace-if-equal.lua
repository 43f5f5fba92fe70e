-- Replaces a value only if it is still the one read: rotate-secrets rewrites
-- an export without losing a change the API saved meanwhile.
-- KEYS[1] the key; ARGV[1] the value read, ARGV[2] the new value.
-- Returns 1 when replaced, 0 when the value had changed.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
