-- What BullMQ's addStandardJob and addPrioritizedJob scripts do for one job
-- each, done for a whole chunk of jobs in one script call. A scheduler tick
-- adds thousands of jobs: one BullMQ script call per job cost about 70 us of
-- Redis time and 90 us of Node time each (options packed with msgpack per
-- job, the script unpacking and re-encoding them as JSON, the meta hash read
-- per job), which made BullMQ most of the tick.
--
-- It writes what those scripts write for a job with a custom id, no parent,
-- no delay, no deduplication and no repeat (the only jobs the run queue
-- adds): the job hash (name, data, opts as JSON, timestamp, delay, priority),
-- the id counter, the wait list or the prioritized set (score from the
-- priority counter), and the marker that wakes workers. A job whose key
-- exists is left as it is.
--
-- One thing it leaves out on purpose: the 'added', 'waiting' and
-- 'duplicated' entries of the queue's events stream. Only QueueEvents
-- listeners read them, and nothing here listens (the worker wakes on the
-- marker; Bull Board reads job states); writing them was 40% of this
-- script's Redis time (0.15 to 0.2 s per 10,000 jobs with appendonly).
--
-- Written against the Lua scripts of BullMQ 6.7.0 (the version pinned in
-- package.json); test/integration/queue-add-jobs.test.ts checks that it
-- leaves Redis as BullMQ's own addBulk does, events aside, so an upgrade
-- that changes BullMQ's layout fails that test.
--
-- KEYS: 1 wait, 2 meta, 3 id, 4 marker, 5 active, 6 prioritized, 7 priority
-- counter, then one job hash key per job. ARGV: 1 timestamp (epoch ms),
-- 2 priority (0: none), then per job: id, name, data (JSON), opts (JSON).
-- Answers how many jobs it added.
local rcall = redis.call
local timestamp, priority = ARGV[1], tonumber(ARGV[2])
local pausedOrMaxed = false
local meta = rcall('HMGET', KEYS[2], 'paused', 'concurrency')
if meta[1] then
  pausedOrMaxed = true
elseif meta[2] then
  pausedOrMaxed = rcall('LLEN', KEYS[5]) >= tonumber(meta[2])
end
rcall('INCRBY', KEYS[3], (#ARGV - 2) / 4)
local added = {}
local k = 7
for i = 3, #ARGV, 4 do
  k = k + 1
  local jobKey = KEYS[k]
  if rcall('EXISTS', jobKey) == 0 then
    rcall('HMSET', jobKey, 'name', ARGV[i + 1], 'data', ARGV[i + 2], 'opts', ARGV[i + 3], 'timestamp', timestamp,
      'delay', 0, 'priority', priority)
    added[#added + 1] = ARGV[i]
  end
end
if #added == 0 then return 0 end
-- One command for all the added jobs, as many single pushes would leave it.
if priority > 0 then
  local counter = rcall('INCRBY', KEYS[7], #added) - #added
  local scored = {}
  for n, jobId in ipairs(added) do
    scored[2 * n - 1] = priority * 0x100000000 + (counter + n) % 0x100000000
    scored[2 * n] = jobId
  end
  rcall('ZADD', KEYS[6], unpack(scored))
else
  rcall('LPUSH', KEYS[1], unpack(added))
end
if not pausedOrMaxed then rcall('ZADD', KEYS[4], 0, '0') end
return #added
