-- Intervals known exported after their run records are gone (retention) are
-- bits in per-export bitmaps: a bit per 5-minute slot, a key per block of
-- 365 days (13 KB at most), whatever the pattern of exported intervals. An
-- interval [s, e) covers slots floor(s / SLOT) to ceil(e / SLOT) - 1; it
-- spans at most two blocks (intervals are at most a week long), passed as
-- two keys, the block numbers beside them.
local SLOT = 300000
local BLOCK = 105120

local function slotRange(s, e)
  return math.floor(s / SLOT), math.ceil(e / SLOT)
end

-- Sets the bits of [s, e) in the blocks keyA (number blockA) and keyB.
local function markExported(keyA, blockA, keyB, s, e)
  local a, b = slotRange(s, e)
  for slot = a, b - 1 do
    local block = math.floor(slot / BLOCK)
    local key = keyB
    if block == blockA then key = keyA end
    redis.call('SETBIT', key, slot - block * BLOCK, 1)
  end
end

-- Whether every slot of [s, e) is set.
local function isExported(keyA, blockA, keyB, s, e)
  local a, b = slotRange(s, e)
  local set = 0
  local splitAt = (blockA + 1) * BLOCK
  if a < splitAt then
    set = set + redis.call('BITCOUNT', keyA, a - blockA * BLOCK, math.min(b, splitAt) - 1 - blockA * BLOCK, 'BIT')
  end
  if b > splitAt then
    set = set + redis.call('BITCOUNT', keyB, math.max(a, splitAt) - splitAt, b - 1 - splitAt, 'BIT')
  end
  return set == b - a
end
