-- Puts a Completed run back to Scheduled for a repair (its interval changed
-- at the source since it was exported) and records the interval as
-- repairing, in one step, only while its receipt still has the version the
-- reconciler compared, and still covers the interval compared (the export's
-- interval may have changed, the record rewritten for a new interval whose
-- receipt starts again at version 1): with several schedulers each mismatch
-- is repaired once. Answers 1 if done, 0 if the run changed meanwhile.
-- KEYS 1-6 as in track.lua, 7 the export's reconciliation hash.
-- ARGV[1] now (ms), ARGV[2] the receipt version compared, ARGV[3] the
-- record's field (interval start ms), ARGV[4] the record, ARGV[5] the interval end ms.
-- @include track
local run = readRun('receipt')
local status = run.status
if status ~= 'Completed' then return 0 end
if run.interval_end_ms ~= ARGV[5] then return 0 end
local receipt = run.receipt
if not receipt then return 0 end
local ok, decoded = pcall(cjson.decode, receipt)
if not ok or type(decoded) ~= 'table' or tostring(decoded.version) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'Scheduled', 'error', '', 'finished_at', '')
track(status, 'Scheduled', ARGV[1], run)
redis.call('HSET', KEYS[7], ARGV[3], ARGV[4])
return 1
