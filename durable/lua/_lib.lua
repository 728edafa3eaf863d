-- Shared preamble of every script. durable/store.py registers each script as: its prologue,
-- this file, the script's body. The prologue defines, as locals:
--   the key schema (durable/keys.py lua_bindings): queue_key, leases_key, expiry_key, wake_key
--           and member_separator (strings); instance_key(wf, iid), instance_steps_stem(wf, iid),
--           take_receipt_key(owner), workflow_index_key(wf),
--           status_index_key(wf, status), version_index_key(wf, version),
--           version_status_index_key(wf, version, status), versions_key(wf),
--           instance_job_id(wf, iid, n), arq_job_key(job), arq_in_progress_key(job) and
--           arq_retry_key(job) (functions)
--   fname, job_ttl_ms, retention_ms, lease_ttl_ms   this deployment's settings
--   wake_limit   the most members the wake marker keeps
--   ikey, steps_stem, events_stem, logs_stem, eids_key, answer_key   the script's KEYS, by the
--           names its header lists (nil when it takes none of them); a script appends the run
--           number to a stem
--   wf, iid and the names of the script's ARGV, as its header lists them (strings)
-- No script spells a key: every key comes from the prologue.
local member = wf and (wf .. member_separator .. iid)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function hget(field)
  return redis.call('HGET', ikey, field)
end

local function set_status(new)
  local cur = redis.call('HMGET', ikey, 'status', 'created', 'version')
  if cur[1] then redis.call('ZREM', status_index_key(wf, cur[1]), iid) end
  redis.call('ZADD', status_index_key(wf, new), cur[2], iid)
  if cur[3] then
    if cur[1] then redis.call('ZREM', version_status_index_key(wf, cur[3], cur[1]), iid) end
    redis.call('ZADD', version_status_index_key(wf, cur[3], new), cur[2], iid)
  end
  redis.call('HSET', ikey, 'status', new, 'updated', now)
end

local function drop_job()
  local old = hget('job')
  if old then
    redis.call('ZREM', queue_key, old)
    redis.call('ZREM', wake_key, old)
    redis.call('DEL', arq_job_key(old))
    redis.call('HDEL', ikey, 'job', 'due')
  end
  redis.call('ZREM', leases_key, member)
end

-- Wake a worker blocked on the wake marker (BZPOPMIN): a member per job due now, so that many
-- jobs due at once wake as many blocked workers; and for a future job that became the queue's
-- head, since blocked workers sleep until the head they last saw. The marker stays small: a
-- member goes when its job is taken or dropped (or popped), and it keeps at most wake_limit
-- (far more than workers ever block at once). ZADD of the same job twice is one member, so a
-- script retried after a lost reply does not signal twice.
local function signal(jid, due)
  if due > now and redis.call('ZRANGE', queue_key, 0, 0)[1] ~= jid then return end
  if redis.call('ZCARD', wake_key) < wake_limit then redis.call('ZADD', wake_key, due, jid) end
end

-- Enqueue an arq job (arq's JSON job format) due at `due`, replacing any pending one, and signal
-- the wake marker when that makes work due now (or moves the queue's head earlier). The lease
-- set doubles as a watchdog: a job nobody has taken a lease for by due + lease TTL is checked
-- by housekeeping (a plain arq worker may have died between claiming the job and taking the
-- lease).
local function schedule(due)
  drop_job()
  local jid = instance_job_id(wf, iid, redis.call('HINCRBY', ikey, 'jobn', 1))
  -- built as text: an empty Lua table has no JSON type of its own ("k" must be an object)
  local job = '{"t":1,"f":' .. cjson.encode(fname) .. ',"a":[' .. cjson.encode(wf) .. ',' ..
    cjson.encode(iid) .. '],"k":{},"et":' .. now .. '}'
  redis.call('SET', arq_job_key(jid), job, 'PX', job_ttl_ms)
  redis.call('ZADD', queue_key, due, jid)
  redis.call('HSET', ikey, 'job', jid, 'due', due)
  redis.call('ZADD', leases_key, due + lease_ttl_ms, member)
  signal(jid, due)
  return jid
end

-- Complete a wait_for_event step with event `seq` of the run (its type, payload and creation
-- time): the event is consumed by that step. `head` is the step record without status, updated
-- time and closing brace (StepRecord.wait_head). Returns the record.
local function complete_wait(run, key, head, seq, event_type, created)
  local ekey = events_stem .. run
  redis.call('HSET', ekey, seq .. ':k', key, seq .. ':d', now)
  redis.call('HDEL', ikey, 'lost')
  local payload = redis.call('HGET', ekey, seq .. ':p') or 'null'
  local rec = '{"s":"completed",' .. string.sub(head, 2) .. ',"u":' .. now ..
    ',"r":{"type":' .. cjson.encode(event_type) .. ',"payload":' .. payload ..
    ',"timestamp":' .. created .. '}}'
  redis.call('HSET', steps_stem .. run, key, rec)
  return rec
end

-- Something arrived for the instance (an event, a child's outcome): a waiting instance is
-- queued to run now; a running one is told to run again once its execution ends ('wake').
local function wake_instance(status)
  if status == 'waiting' then
    set_status('queued')
    schedule(now)
  elseif status == 'running' then
    redis.call('HSET', ikey, 'wake', 1, 'updated', now)
  else
    redis.call('HSET', ikey, 'updated', now)
  end
end

local function each_key(fn)
  local run = tonumber(hget('run')) or 0
  for r = tonumber(hget('run0')) or 0, run do  -- run0: the first run kept (durable/ticker.py)
    fn(steps_stem .. r)
    fn(events_stem .. r)
    fn(logs_stem .. r)
  end
  fn(eids_key)
  fn(ikey)
end

local function expire_all()
  each_key(function(k) redis.call('PEXPIRE', k, retention_ms) end)
  redis.call('ZADD', expiry_key, now + retention_ms, member)
end

local function persist_all()
  each_key(function(k) redis.call('PERSIST', k) end)
  redis.call('ZREM', expiry_key, member)
end

local function release_lease()
  redis.call('ZREM', leases_key, member)
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
