-- Intervals known exported after their run records are gone (retention) are
-- bits in per-export bitmaps, a key per block of 365 days: a bit per 5-minute
-- slot an exported interval covered (13 KB at most per block), and a bit per
-- slot boundary where one started or ended (as many). An interval [s, e)
-- covers slots floor(s / SLOT) to ceil(e / SLOT) - 1, its bounds are those two
-- numbers; it spans at most two blocks (intervals are at most a week long),
-- passed as keys (cover and bounds of each), the first block's number beside.
-- It is known exported only as exactly that interval: every slot covered, a
-- bound at both ends and none between (an hour of an exported day is not,
-- nor a day of which hours were).
-- Marks of the version before bounds (cover bits, no bounds bitmap in the
-- block) tell only that every slot was covered, and go on counting so: before
-- the first bounds land in a block, its cover is kept as the block's legacy
-- bitmap, the old marks alone. The keys of a block pair: cover A, bounds A,
-- cover B, bounds B, legacy A, legacy B (6 consecutive keys from index k).
local SLOT = 300000
local BLOCK = 105120

local function slotRange(s, e)
  return math.floor(s / SLOT), math.ceil(e / SLOT)
end

-- How many bits of [a, b) are set, in the blocks keyA (number blockA) and keyB (the next).
local function countBits(keyA, blockA, keyB, a, b)
  if b <= a then return 0 end
  local set = 0
  local splitAt = (blockA + 1) * BLOCK
  if a < splitAt then
    set = set + redis.call('BITCOUNT', keyA, a - blockA * BLOCK, math.min(b, splitAt) - 1 - blockA * BLOCK, 'BIT')
  end
  if b > splitAt then
    set = set + redis.call('BITCOUNT', keyB, math.max(a, splitAt) - splitAt, b - 1 - splitAt, 'BIT')
  end
  return set
end

local function setBit(keyA, blockA, keyB, slot, value)
  local block = math.floor(slot / BLOCK)
  local key = keyB
  if block == blockA then key = keyA end
  redis.call('SETBIT', key, slot - block * BLOCK, value)
end

-- Before a block gets bounds: its cover, all old marks, kept as its legacy bitmap.
local function keepLegacy(cover, bounds, legacy)
  if redis.call('EXISTS', bounds) == 1 or redis.call('EXISTS', legacy) == 1 then return end
  local old = redis.call('GET', cover)
  if old then redis.call('SET', legacy, old) end
end

-- Marks [s, e) exported: its slots covered, its bounds set; bounds between
-- them (of an interval it replaced at the same start) cleared.
-- `k` is the index in KEYS of the block pair's 6 keys (above).
local function markExported(k, blockA, s, e)
  local a, b = slotRange(s, e)
  keepLegacy(KEYS[k], KEYS[k + 1], KEYS[k + 4])
  if b >= (blockA + 1) * BLOCK then keepLegacy(KEYS[k + 2], KEYS[k + 3], KEYS[k + 5]) end
  for slot = a, b - 1 do
    setBit(KEYS[k], blockA, KEYS[k + 2], slot, 1)
    if slot > a then setBit(KEYS[k + 1], blockA, KEYS[k + 3], slot, 0) end
  end
  setBit(KEYS[k + 1], blockA, KEYS[k + 3], a, 1)
  setBit(KEYS[k + 1], blockA, KEYS[k + 3], b, 1)
end

-- Whether any slot of [s, e) is marked: an interval that overlaps it was exported
-- and its record is gone (keys as for markExported).
local function anyMarked(k, blockA, s, e)
  local a, b = slotRange(s, e)
  return countBits(KEYS[k], blockA, KEYS[k + 2], a, b) > 0
end

-- The old marks of a block: its legacy bitmap, or its cover while it has no bounds.
local function oldMarks(k, i)
  if redis.call('EXISTS', KEYS[k + i + 1]) == 0 then return KEYS[k + i] end
  return KEYS[k + 4 + i / 2]
end

-- Whether [s, e) is known exported as exactly that interval (keys as for markExported).
local function isExported(k, blockA, s, e)
  local a, b = slotRange(s, e)
  -- Old marks: every slot covered is all they tell.
  if countBits(oldMarks(k, 0), blockA, oldMarks(k, 2), a, b) == b - a then return true end
  if countBits(KEYS[k], blockA, KEYS[k + 2], a, b) ~= b - a then return false end
  return countBits(KEYS[k + 1], blockA, KEYS[k + 3], a, a + 1) == 1
    and countBits(KEYS[k + 1], blockA, KEYS[k + 3], b, b + 1) == 1
    and countBits(KEYS[k + 1], blockA, KEYS[k + 3], a + 1, b) == 0
end
