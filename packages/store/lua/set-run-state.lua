-- Keeps a destination's scratch state on a run (open uploads to clean up),
-- only while the run has a record: a worker still writing after its export
-- was deleted must not leave a stray run key behind.
-- KEYS[1] the run hash. ARGV[1] the state (JSON). Answers 1 if stored.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return 1
