-- Status, interval end and receipt of many runs in one reply: a pipeline of
-- thousands of HMGETs costs the client far more than one script call.
-- KEYS: the run hashes. Answers three values per run ('' where missing).
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'status', 'interval_end_ms', 'receipt')
  out[#out + 1] = v[1] or ''
  out[#out + 1] = v[2] or ''
  out[#out + 1] = v[3] or ''
end
return out
