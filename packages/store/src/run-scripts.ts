import { FINAL_STATUSES } from '@bx/core';

/**
 * Every Lua script that changes a run's status. Each one also moves, in the
 * same atomic step, the counters /metrics reads (runs per status, the
 * export's not-yet-exported runs, rows, bytes, durations), so those never
 * disagree with the run records whatever process or crash comes between.
 * A status written any other way would make the counters drift.
 *
 * Common arguments: KEYS[1] the run hash, KEYS[2] the runs-by-status hash,
 * ARGV[1] the prefix of the per-export pending-runs sorted sets. That key is
 * built from the run's export id inside the script, which assumes one Redis
 * (not Cluster), as the rest of the store does.
 */

/** Upper bounds, in seconds, of the run duration histogram buckets (besides +Inf). */
export const RUN_DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400] as const;

const luaString = (value: string) => `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;

const TRACK = `
local function track(from, to)
  if from == to then return end
  if from then redis.call('HINCRBY', KEYS[2], from, -1) end
  if to then redis.call('HINCRBY', KEYS[2], to, 1) end
  local run = redis.call('HMGET', KEYS[1], 'id', 'export_id', 'interval_end_ms')
  if not run[1] or not run[2] then return end
  local pending = ARGV[1] .. run[2]
  if not to or to == 'Completed' or to == 'Cancelled' then
    redis.call('ZREM', pending, run[1])
  elseif run[3] then
    redis.call('ZADD', pending, run[3], run[1])
  end
end
`;

// Creates each run that does not exist yet: one call for a whole batch of runs
// (a scheduler tick or a backfill creates thousands), not one per run. One
// record per (export, data_interval_start) holds even with two schedulers.
// Answers, per run, 'created' or the existing status. Does what track(false,
// 'Scheduled') does per created run, with one HINCRBY for the batch.
// Unlike the scripts below it names its keys from prefixes (one Redis, not
// Cluster): KEYS[1] the runs-by-status hash; ARGV[1] the pending-runs prefix,
// ARGV[2] the run hash prefix, ARGV[3] the export runs prefix, ARGV[4]
// created_at; then 7 values per run: id, export id, interval start and end in
// epoch ms, the same two in ISO 8601, backfill id or ''.
export const CREATE_MANY = `
local N = 7
local out = {}
local created = 0
for i = 5, #ARGV, N do
  local id, exportId, startMs, endMs = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local key = ARGV[2] .. id
  local status = redis.call('HGET', key, 'status')
  if status then
    out[#out + 1] = status
  else
    if ARGV[i + 6] == '' then
      redis.call('HSET', key, 'id', id, 'export_id', exportId, 'data_interval_start', ARGV[i + 4],
        'data_interval_end', ARGV[i + 5], 'status', 'Scheduled', 'created_at', ARGV[4], 'interval_end_ms', endMs)
    else
      redis.call('HSET', key, 'id', id, 'export_id', exportId, 'data_interval_start', ARGV[i + 4],
        'data_interval_end', ARGV[i + 5], 'status', 'Scheduled', 'created_at', ARGV[4], 'interval_end_ms', endMs,
        'backfill_id', ARGV[i + 6])
    end
    redis.call('ZADD', ARGV[3] .. exportId, startMs, id)
    redis.call('ZADD', ARGV[1] .. exportId, endMs, id)
    created = created + 1
    out[#out + 1] = 'created'
  end
end
if created > 0 then redis.call('HINCRBY', KEYS[1], 'Scheduled', created) end
return out`;

// Moves a run to Running and counts one more attempt (across manual retries
// too), unless it was cancelled or completed meanwhile. Answers the attempt number.
// ARGV[2] started_at (ISO), ARGV[3] the same in epoch ms.
export const START = `${TRACK}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status == 'Cancelled' or status == 'Completed' then return status end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'Running', 'started_at', ARGV[2], 'started_ms', ARGV[3],
  'finished_at', '', 'error', '')
track(status, 'Running')
return tostring(attempt)`;

// Sets a final or retryable status only while the run is Running (a run
// cancelled meanwhile stays Cancelled), and only by its latest attempt: a
// worker that lost its lock (Redis away longer than the lock lasts) may still
// be running an attempt that another worker has since started again. A
// completed run adds its rows and bytes to the export's totals; every finished
// attempt adds its duration.
// KEYS[3] export totals, KEYS[4] durations; ARGV[2] the new status, ARGV[3]
// now (epoch ms), ARGV[4] rows, ARGV[5] bytes, ARGV[6] the attempt or '',
// ARGV[7..] more fields.
export const FINISH = `${TRACK}
local BOUNDS = {${RUN_DURATION_BUCKETS.join(', ')}}
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'Running' then return status or 'missing' end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'attempts') ~= ARGV[6] then return 'Superseded' end
redis.call('HSET', KEYS[1], 'status', ARGV[2], unpack(ARGV, 7))
track(status, ARGV[2])
if ARGV[2] == 'Completed' then
  local exportId = redis.call('HGET', KEYS[1], 'export_id')
  redis.call('HINCRBY', KEYS[3], exportId .. '|rows', ARGV[4])
  redis.call('HINCRBY', KEYS[3], exportId .. '|bytes', ARGV[5])
end
local started = tonumber(redis.call('HGET', KEYS[1], 'started_ms'))
if started then
  local ms = math.max(0, tonumber(ARGV[3]) - started)
  local le = '+Inf'
  for _, bound in ipairs(BOUNDS) do
    if ms <= bound * 1000 then le = tostring(bound) break end
  end
  redis.call('HINCRBY', KEYS[4], ARGV[2] .. '|' .. le, 1)
  redis.call('HINCRBY', KEYS[4], ARGV[2] .. '|count', 1)
  redis.call('HINCRBY', KEYS[4], ARGV[2] .. '|sum_ms', string.format('%d', ms))
end
return 'ok'`;

// Cancels a run that has not finished; 1 if it was cancelled. ARGV[2] finished_at.
export const CANCEL = `${TRACK}
local FINAL = {${FINAL_STATUSES.map((s) => `[${luaString(s)}] = true`).join(', ')}}
local status = redis.call('HGET', KEYS[1], 'status')
if not status or FINAL[status] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'Cancelled', 'finished_at', ARGV[2])
track(status, 'Cancelled')
return 1`;

// Puts a run back to Scheduled (manual retry, forced backfill); 1 if the run
// exists. ARGV[2] the backfill that re-runs it, or ''.
export const RESCHEDULE = `${TRACK}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
redis.call('HSET', KEYS[1], 'status', 'Scheduled', 'error', '', 'finished_at', '')
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'backfill_id', ARGV[2]) end
track(status, 'Scheduled')
return 1`;

// Deletes a run record, taking it out of the counters first.
export const DELETE = `${TRACK}
local status = redis.call('HGET', KEYS[1], 'status')
if status then track(status, false) end
return redis.call('DEL', KEYS[1])`;
