-- The data_interval_end of each export's oldest pending run ('' if none), in
-- one command per chunk of exports rather than one per export.
-- KEYS: the exports' pending-runs zsets.
local out = {}
for i = 1, #KEYS do
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  out[i] = first[2] or ''
end
return out
