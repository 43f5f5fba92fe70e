-- Creates each run that does not exist yet, for a batch of runs of any
-- number of exports (a scheduler tick, a backfill step): one call per batch,
-- not one per run. One record per (export, data_interval_start) holds even
-- with several schedulers. Answers per run: 'created'; 'Exported' when the
-- interval's record is gone but it is known exported (retention); the
-- existing status, prefixed 'mine:' when the run is open for the backfill
-- that creates it (a step that crashed before enqueueing).
-- KEYS[1] runs-by-status; the rest are named by index from ARGV.
-- ARGV[1] created_at (ISO), ARGV[2] '1' to create runs of intervals known
-- exported too (a forced backfill), then 10 values per run: the index in KEYS of the
-- run hash; of the export's runs, pending, unfinished and exported-ranges
-- zsets (4 consecutive keys); of the backfill hash and its open zset
-- (2 consecutive keys; 0 for none); run id, export id, start ms, end ms,
-- start ISO, end ISO, backfill id or ''.
local N = 10
local out = {}
local created = 0
for i = 3, #ARGV, N do
  local runKey = KEYS[tonumber(ARGV[i])]
  local e = tonumber(ARGV[i + 1])
  local bf = tonumber(ARGV[i + 2])
  local id, exportId, startMs, endMs = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local backfillId = ARGV[i + 9]
  local status = redis.call('HGET', runKey, 'status')
  if status then
    if backfillId ~= '' and redis.call('HGET', runKey, 'bf_open') == '1'
      and redis.call('HGET', runKey, 'backfill_id') == backfillId then
      out[#out + 1] = 'mine:' .. status
    else
      out[#out + 1] = status
    end
  else
    local known = {}
    if ARGV[2] ~= '1' then known = redis.call('ZREVRANGEBYSCORE', KEYS[e + 3], startMs, '-inf', 'LIMIT', 0, 1) end
    local exported = false
    if known[1] then
      local rangeEnd = tonumber(string.match(known[1], ':(%d+)$'))
      exported = rangeEnd ~= nil and rangeEnd >= tonumber(endMs)
    end
    if exported then
      out[#out + 1] = 'Exported'
    else
      redis.call('HSET', runKey, 'id', id, 'export_id', exportId, 'data_interval_start', ARGV[i + 7],
        'data_interval_end', ARGV[i + 8], 'status', 'Scheduled', 'created_at', ARGV[1],
        'interval_end_ms', endMs)
      if backfillId ~= '' then
        redis.call('HSET', runKey, 'backfill_id', backfillId, 'bf_open', '1')
        redis.call('ZADD', KEYS[bf + 1], startMs, id)
      end
      redis.call('ZADD', KEYS[e], startMs, id)
      redis.call('ZADD', KEYS[e + 1], endMs, id)
      redis.call('ZADD', KEYS[e + 2], startMs, id)
      created = created + 1
      out[#out + 1] = 'created'
    end
  end
end
if created > 0 then redis.call('HINCRBY', KEYS[1], 'Scheduled', created) end
return out
