-- Shared preamble of every script. durable/store.py registers each script as: its prologue,
-- this file, the script's body. The prologue defines, as locals:
--   K       the key schema (durable/keys.py lua_bindings): K.queue, K.leases, K.expiry and
--           K.member_separator are strings; every other entry is the pieces of a parametrised
--           key, joined with its values by fill (K.status_index: workflow, status)
--   fname, job_ttl_ms, retention_ms, lease_ttl_ms   this deployment's settings
--   ikey, steps_stem, events_stem, logs_stem, eids_key, answer_key   the script's KEYS, by the
--           names its header lists (nil when it takes none of them); a script appends the run
--           number to a stem
--   wf, iid and the names of the script's ARGV, as its header lists them (strings)
-- No script spells a key: every key comes from the prologue.
local member = wf and (wf .. K.member_separator .. iid)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- A parametrised key: its pieces (from K) joined with the values, in order.
local function fill(pieces, ...)
  local out = pieces[1]
  for i = 1, select('#', ...) do
    out = out .. select(i, ...) .. pieces[i + 1]
  end
  return out
end

local function hget(field)
  return redis.call('HGET', ikey, field)
end

local function set_status(new)
  local cur = redis.call('HMGET', ikey, 'status', 'created', 'version')
  if cur[1] then redis.call('ZREM', fill(K.status_index, wf, cur[1]), iid) end
  redis.call('ZADD', fill(K.status_index, wf, new), cur[2], iid)
  if cur[3] then
    if cur[1] then redis.call('ZREM', fill(K.version_status_index, wf, cur[3], cur[1]), iid) end
    redis.call('ZADD', fill(K.version_status_index, wf, cur[3], new), cur[2], iid)
  end
  redis.call('HSET', ikey, 'status', new, 'updated', now)
end

local function drop_job()
  local old = hget('job')
  if old then
    redis.call('ZREM', K.queue, old)
    redis.call('DEL', fill(K.arq_job, old))
    redis.call('HDEL', ikey, 'job', 'due')
  end
  redis.call('ZREM', K.leases, member)
end

-- Enqueue an arq job (arq's JSON job format) due at `due`, replacing any pending one. The lease
-- set doubles as a watchdog: a job nobody has taken a lease for by due + lease TTL is checked
-- by housekeeping (its worker may have died between claiming the job and taking the lease).
local function schedule(due)
  drop_job()
  local jid = fill(K.job_id, wf, iid, redis.call('HINCRBY', ikey, 'jobn', 1))
  -- built as text: an empty Lua table has no JSON type of its own ("k" must be an object)
  local job = '{"t":1,"f":' .. cjson.encode(fname) .. ',"a":[' .. cjson.encode(wf) .. ',' ..
    cjson.encode(iid) .. '],"k":{},"et":' .. now .. '}'
  redis.call('SET', fill(K.arq_job, jid), job, 'PX', job_ttl_ms)
  redis.call('ZADD', K.queue, due, jid)
  redis.call('HSET', ikey, 'job', jid, 'due', due)
  redis.call('ZADD', K.leases, due + lease_ttl_ms, member)
  return jid
end

local function each_key(fn)
  local run = tonumber(hget('run')) or 0
  for r = 0, run do
    fn(steps_stem .. r)
    fn(events_stem .. r)
    fn(logs_stem .. r)
  end
  fn(eids_key)
  fn(ikey)
end

local function expire_all()
  each_key(function(k) redis.call('PEXPIRE', k, retention_ms) end)
  redis.call('ZADD', K.expiry, now + retention_ms, member)
end

local function persist_all()
  each_key(function(k) redis.call('PERSIST', k) end)
  redis.call('ZREM', K.expiry, member)
end

local function release_lease()
  redis.call('ZREM', K.leases, member)
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
  local lkey = logs_stem .. run
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

-- Idempotency answers (answer_key, '' when the call carries no Idempotency-Key): a control call
-- stores its answer for ttl ms in the same script as its effect, so a retried call finds the
-- answer and does nothing. The key names the operation: one key used for two operations acts
-- twice.
local function recalled()
  if answer_key == nil or answer_key == '' then return false end
  return redis.call('GET', answer_key)
end

local function remember(ttl, answer)
  if answer_key ~= nil and answer_key ~= '' then
    redis.call('SET', answer_key, answer, 'PX', ttl)
  end
end
