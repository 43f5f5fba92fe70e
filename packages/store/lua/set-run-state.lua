-- Keeps a destination's scratch state on a run (open uploads to clean up),
-- only while the run has a record: a worker still writing after its export
-- was deleted must not leave a stray run key behind. And only by the run's
-- latest attempt (attempt.lua): an attempt that was taken over (its worker
-- froze and woke) must not put its uploads in place of the later attempt's,
-- which the attempt after that could then never abort.
-- KEYS[1] the run hash. ARGV[1] the state (JSON), ARGV[2] the attempt or ''
-- (not fenced), ARGV[3] its token or ''.
-- Answers 'ok' if stored, 'missing' (no record) or 'Superseded'.
-- @include attempt
local found = redis.call('HMGET', KEYS[1], 'status', 'attempts', 'attempt_token', 'started_ms')
if not found[1] then return 'missing' end
if ARGV[2] ~= '' and not isLatestAttempt(found[2], found[3], found[4], ARGV[2], ARGV[3]) then return 'Superseded' end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return 'ok'
