/**
 * What BullMQ's addStandardJob and addPrioritizedJob scripts do for one job
 * each, done for a whole chunk of jobs in one script call. A scheduler tick
 * adds 10,000 jobs: one BullMQ script call per job cost about 70 µs of Redis
 * time and 90 µs of Node time each (options packed with msgpack per job, the
 * script unpacking and re-encoding them as JSON, the meta hash read per job),
 * which made BullMQ most of the tick.
 *
 * It writes exactly what those scripts write for a job with a custom id, no
 * parent, no delay, no deduplication and no repeat (the only jobs RunQueue
 * adds): the job hash (name, data, opts as JSON, timestamp, delay, priority),
 * the id counter, the wait list or the prioritized set (score from the
 * priority counter), the 'added', 'waiting' and 'duplicated' events, and the
 * marker that wakes workers. A job whose key exists is left as it is.
 *
 * Written against the Lua scripts of BullMQ 6.7.0 (the version pinned in
 * package.json); test/integration/queue-add-jobs.test.ts checks that it
 * leaves Redis as BullMQ's own addBulk does, so an upgrade that changes
 * BullMQ's layout fails that test.
 *
 * KEYS: 1 wait, 2 meta, 3 id, 4 events, 5 marker, 6 active, 7 prioritized,
 * 8 priority counter. ARGV: 1 job key prefix, 2 job name, 3 timestamp (epoch
 * ms), 4 priority (0: none), then per job: id, data (JSON), opts (JSON).
 * Answers how many jobs it added.
 */
export const ADD_JOBS = `
local rcall = redis.call
local prefix, name, timestamp, priority = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local maxEvents = rcall('HGET', KEYS[2], 'opts.maxLenEvents')
if not maxEvents then
  maxEvents = 10000
  rcall('HSET', KEYS[2], 'opts.maxLenEvents', maxEvents)
end
local pausedOrMaxed = false
local meta = rcall('HMGET', KEYS[2], 'paused', 'concurrency')
if meta[1] then
  pausedOrMaxed = true
elseif meta[2] then
  pausedOrMaxed = rcall('LLEN', KEYS[6]) >= tonumber(meta[2])
end
rcall('INCRBY', KEYS[3], (#ARGV - 4) / 3)
local added = {}
for i = 5, #ARGV, 3 do
  local jobId = ARGV[i]
  local jobKey = prefix .. jobId
  if rcall('EXISTS', jobKey) == 1 then
    rcall('XADD', KEYS[4], 'MAXLEN', '~', maxEvents, '*', 'event', 'duplicated', 'jobId', jobId)
  else
    rcall('HMSET', jobKey, 'name', name, 'data', ARGV[i + 1], 'opts', ARGV[i + 2], 'timestamp', timestamp,
      'delay', 0, 'priority', priority)
    rcall('XADD', KEYS[4], '*', 'event', 'added', 'jobId', jobId, 'name', name)
    rcall('XADD', KEYS[4], 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
    added[#added + 1] = jobId
  end
end
if #added == 0 then return 0 end
-- One command for all the added jobs, as many single pushes would leave it.
if priority > 0 then
  local counter = rcall('INCRBY', KEYS[8], #added) - #added
  local scored = {}
  for k, jobId in ipairs(added) do
    scored[2 * k - 1] = priority * 0x100000000 + (counter + k) % 0x100000000
    scored[2 * k] = jobId
  end
  rcall('ZADD', KEYS[7], unpack(scored))
else
  rcall('LPUSH', KEYS[1], unpack(added))
end
if not pausedOrMaxed then rcall('ZADD', KEYS[5], 0, '0') end
return #added`;
