-- Shared preamble of every instance script (durable/store.py prepends it and fills in the
-- __SETTINGS__ placeholders once, so calls carry only what changes).
-- KEYS: the instance hash. ARGV: 1 workflow name, 2 instance id; script arguments follow.
-- Key names mirror durable/keys.py (tests read what the scripts write through keys.py).
local P, fname = '__PREFIX__', '__FUNCTION__'
local jobttl, retention, leasettl = __JOB_TTL__, __RETENTION__, __LEASE_TTL__
local wf, iid = ARGV[1], ARGV[2]
local member = wf .. '/' .. iid
local base = P .. ':{' .. member .. '}'
local ikey = KEYS[1]
local wfidx, ststem = P .. ':w:' .. wf .. ':all', P .. ':w:' .. wf .. ':st:'
local queue, leases, expiry = P .. ':queue', P .. ':leases', P .. ':expiry'
local jobstem = P .. ':job:' .. member .. ':'
local A = 2
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function hget(field)
  return redis.call('HGET', ikey, field)
end

-- The stem of one code version's indexes (keys.py version_stem).
local function version_stem(version)
  return P .. ':w:' .. wf .. ':v:' .. version .. ':'
end

local function set_status(new)
  local cur = redis.call('HMGET', ikey, 'status', 'created', 'version')
  if cur[1] then redis.call('ZREM', ststem .. cur[1], iid) end
  redis.call('ZADD', ststem .. new, cur[2], iid)
  if cur[3] then
    local vst = version_stem(cur[3]) .. 'st:'
    if cur[1] then redis.call('ZREM', vst .. cur[1], iid) end
    redis.call('ZADD', vst .. new, cur[2], iid)
  end
  redis.call('HSET', ikey, 'status', new, 'updated', now)
end

local function drop_job()
  local old = hget('job')
  if old then
    redis.call('ZREM', queue, old)
    redis.call('DEL', 'arq:job:' .. old)
    redis.call('HDEL', ikey, 'job', 'due')
  end
  redis.call('ZREM', leases, member)
end

-- Enqueue an arq job (arq's JSON job format) due at `due`, replacing any pending one. The lease
-- set doubles as a watchdog: a job nobody has taken a lease for by due + lease TTL is checked
-- by housekeeping (its worker may have died between claiming the job and taking the lease).
local function schedule(due)
  drop_job()
  local jid = jobstem .. redis.call('HINCRBY', ikey, 'jobn', 1)
  -- built as text: an empty Lua table has no JSON type of its own ("k" must be an object)
  local job = '{"t":1,"f":' .. cjson.encode(fname) .. ',"a":[' .. cjson.encode(wf) .. ',' ..
    cjson.encode(iid) .. '],"k":{},"et":' .. now .. '}'
  redis.call('SET', 'arq:job:' .. jid, job, 'PX', jobttl)
  redis.call('ZADD', queue, due, jid)
  redis.call('HSET', ikey, 'job', jid, 'due', due)
  redis.call('ZADD', leases, due + leasettl, member)
  return jid
end

local function each_key(fn)
  local run = tonumber(hget('run')) or 0
  for r = 0, run do
    fn(base .. ':s:' .. r)
    fn(base .. ':e:' .. r)
    fn(base .. ':l:' .. r)
  end
  fn(base .. ':eid')
  fn(ikey)
end

local function expire_all()
  each_key(function(k) redis.call('PEXPIRE', k, retention) end)
  redis.call('ZADD', expiry, now + retention, member)
end

local function persist_all()
  each_key(function(k) redis.call('PERSIST', k) end)
  redis.call('ZREM', expiry, member)
end

local function release_lease()
  redis.call('ZREM', leases, member)
  redis.call('HDEL', ikey, 'lease', 'owner', 'ajob')
end

local function is_terminal(status)
  return status == 'complete' or status == 'errored' or status == 'terminated'
end

local function holds(fence)
  local cur = redis.call('HMGET', ikey, 'fence', 'status')
  return cur[1] == fence and cur[2] == 'running'
end

-- Append log records (JSON objects without "id", one per line) to the run's log list. User data
-- is never decoded here: cjson would turn [] into {} and round large numbers.
local function push_logs(run, lines)
  if lines == nil or lines == '' then return end
  local lkey = base .. ':l:' .. run
  local n = redis.call('LLEN', lkey)
  for line in string.gmatch(lines, '[^\n]+') do
    n = n + 1
    redis.call('RPUSH', lkey, '{"id":' .. n .. ',' .. string.sub(line, 2))
  end
end

local function count_logs(count)
  local n = tonumber(count)
  if n > 0 then redis.call('HINCRBY', ikey, 'logn', n) end
end

-- Idempotency keys (keys.py idempotency_key): a control call made with a client key stores its
-- answer for ttl ms in the same script as its effect, so a retried call finds the answer and
-- does nothing. op names the operation: one key used for two operations acts twice.
local function idem_key(op, key)
  return base .. ':k:' .. op .. ':' .. key
end

local function recalled(op, key)
  if key == nil or key == '' then return false end
  return redis.call('GET', idem_key(op, key))
end

local function remember(op, key, ttl, answer)
  if key ~= nil and key ~= '' then redis.call('SET', idem_key(op, key), answer, 'PX', ttl) end
end
