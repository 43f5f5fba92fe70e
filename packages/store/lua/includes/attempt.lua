-- Whether a caller's attempt is still the run's latest (the attempt fence).
-- The attempt count alone is no unique name for an attempt: a rewritten run
-- record (create-runs.lua) or one deleted and created again counts from 1
-- again, and a Redis failover that loses a start hands the same number out
-- twice. So each start also keeps a random token of its attempt
-- (start-run.lua: attempt_token), and an attempt is the latest only while
-- both its number and its token are the run's. A caller without a token
-- (`token` ''; a crashed run failed by the next start, a test) is fenced by
-- the number alone, the rule before tokens. A caller with a token is refused
-- by a run that holds none: only a start of the previous version (no token)
-- can have counted that number since this attempt's own start kept its token.
-- Nor is the token alone enough in a rolling upgrade: a previous version's
-- rewrite of the record (create-runs.lua without attempt_token in its OLD)
-- and start (no token) leave this attempt's token beside the same number. So
-- the caller's token may carry its start's time, `<token>:<started_ms>`, and
-- the run's started_ms (every version's start sets it) must then be that.
-- `attempts`, `stored`, `startedMs`: the run's fields (false when missing); `n`, `token`: the caller's.
local function isLatestAttempt(attempts, stored, startedMs, n, token)
  if attempts ~= n then return false end
  if token == '' then return true end
  local own, at = string.match(token, '^([^:]*):(%d+)$')
  if not own then return stored == token end
  return stored == own and startedMs == at
end
