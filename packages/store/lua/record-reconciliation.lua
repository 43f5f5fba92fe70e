-- Stores what one reconciler pass found for an export's intervals and adds
-- to its counters, only while the export exists: a pass that overlaps the
-- export's deletion leaves no key behind. Answers 1 if stored.
-- KEYS[1] the export, KEYS[2] its reconciliation hash, KEYS[3] the reconcile stats hash.
-- ARGV[1] the export id, ARGV[2..5] checked, mismatches, late rows, repairs,
-- then field, record pairs.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local names = { 'checked', 'mismatches', 'late_rows', 'repairs' }
for i, name in ipairs(names) do
  if ARGV[i + 1] ~= '0' then redis.call('HINCRBY', KEYS[3], ARGV[1] .. '|' .. name, ARGV[i + 1]) end
end
if #ARGV > 5 then redis.call('HSET', KEYS[2], unpack(ARGV, 6)) end
return 1
