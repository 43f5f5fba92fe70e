-- Moves each cursor only if nobody moved it since it was read, so two
-- schedulers never step an export backwards; the winner sets the next due
-- time. One call for a batch of exports, one command per kind of write for
-- all of them; answers 1 or 0 per export. ARGV in fours: export id, cursor
-- read, new cursor, next due time or ''. An export named twice moves once.
-- KEYS[1] the cursors hash, KEYS[2] the schedule zset.
local ids = {}
for i = 1, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
local current = redis.call('HMGET', KEYS[1], unpack(ids))
local out, cursors, due, done = {}, {}, {}, {}
local undue = {}
for k, id in ipairs(ids) do
  local i = 4 * k - 3
  if current[k] ~= ARGV[i + 1] or done[id] then
    out[k] = 0
  else
    done[id] = true
    cursors[#cursors + 1] = id
    cursors[#cursors + 1] = ARGV[i + 2]
    if ARGV[i + 3] == '' then undue[#undue + 1] = id
    else
      due[#due + 1] = ARGV[i + 3]
      due[#due + 1] = id
    end
    out[k] = 1
  end
end
if #cursors > 0 then redis.call('HSET', KEYS[1], unpack(cursors)) end
if #due > 0 then redis.call('ZADD', KEYS[2], unpack(due)) end
if #undue > 0 then redis.call('ZREM', KEYS[2], unpack(undue)) end
return out
