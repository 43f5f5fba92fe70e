-- Stores what one reconciler pass found for an export's intervals and moves
-- its counters, only while the export exists (a pass that overlaps the
-- export's deletion leaves no key behind). Transitions are counted here,
-- against the stored records, so two schedulers whose passes overlap count
-- each once: a record turning `repaired` from `repairing` (or from `mismatch`:
-- a manual retry) is a repair done;
-- one turning `mismatch` from anything but `repairing` or the same mismatch
-- (same receipt version) is a mismatch found, with its late rows.
-- KEYS[1] the export, KEYS[2] its reconciliation hash, KEYS[3] the reconcile stats hash.
-- ARGV[1] the export id, ARGV[2] intervals checked, ARGV[3] mismatches and
-- ARGV[4] late rows of repairs the caller started (counted by repair-run.lua's
-- compare-and-set), then field, record pairs (`status|source|exported|checked|end|version`).
-- Answers {repairs, mismatches, late rows, fields newly found mismatched...}.
if redis.call('EXISTS', KEYS[1]) == 0 then return { 0, 0, 0 } end
local PATTERN = '^(%a+)|(%d+)|(%d+)|%d+|%d+|(%d+)$'
local repairs, mismatches, late = 0, 0, 0
local found = {}
local values = {}
for i = 5, #ARGV, 2 do
  local field, value = ARGV[i], ARGV[i + 1]
  local status, source, exported, version = string.match(value, PATTERN)
  local old = redis.call('HGET', KEYS[2], field)
  local was, wasVersion
  if old then
    local _s, _e
    was, _s, _e, wasVersion = string.match(old, PATTERN)
  end
  if status == 'repaired' and (was == 'repairing' or was == 'mismatch') then repairs = repairs + 1 end
  if status == 'mismatch' and was ~= 'repairing' and not (was == 'mismatch' and wasVersion == version) then
    mismatches = mismatches + 1
    late = late + math.max(0, tonumber(source) - tonumber(exported))
    found[#found + 1] = field
  end
  values[#values + 1] = field
  values[#values + 1] = value
end
if #values > 0 then redis.call('HSET', KEYS[2], unpack(values)) end
local counts = {
  { 'checked', tonumber(ARGV[2]) },
  { 'mismatches', mismatches + tonumber(ARGV[3]) },
  { 'late_rows', late + tonumber(ARGV[4]) },
  { 'repairs', repairs },
}
for _, c in ipairs(counts) do
  if c[2] ~= 0 then redis.call('HINCRBY', KEYS[3], ARGV[1] .. '|' .. c[1], c[2]) end
end
local out = { repairs, mismatches, late }
for _, field in ipairs(found) do out[#out + 1] = field end
return out
