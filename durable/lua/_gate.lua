-- A gate of a workflow with limits (durable/gate.py), shared by gate_enter and gate_leave.
-- Included after _lib.lua. The prologue binds the gate's keys: holders_key (hash: instance id
-- -> run granted), waiting_key (zset: waiting instance ids by creation ms; ties by id),
-- waiting_runs_key (hash: waiting id -> run), starts_key (zset: "id:run" by grant ms, the
-- sliding rate window) and config_key (hash: concurrency, rate, period, key).
-- A gate touches no instance: the worker or client that called it wakes the instances it
-- granted with gate_wake, one script each in their own partitions.
local GRANT_MOST = 100

local function limits()
  local c = redis.call('HMGET', config_key, 'concurrency', 'rate', 'period')
  return tonumber(c[1] or 0), tonumber(c[2] or 0), tonumber(c[3] or 0)
end

-- Why the head of the FIFO cannot start now ('' when it can), and for the rate window the time
-- it frees (0 otherwise).
local function blocked(climit, rlimit, period)
  if climit > 0 and redis.call('HLEN', holders_key) >= climit then return 'concurrency', 0 end
  if rlimit > 0 then
    redis.call('ZREMRANGEBYSCORE', starts_key, '-inf', now - period)
    if redis.call('ZCARD', starts_key) >= rlimit then
      local oldest = redis.call('ZRANGE', starts_key, 0, 0, 'WITHSCORES')
      return 'rateLimit', tonumber(oldest[2]) + period
    end
  end
  return '', 0
end

-- Grant the FIFO's heads while the limits allow: {granted id, run, ...}, and what blocks the
-- head left ('' when none waits), the head and its run, and when the rate window frees it.
local function pump()
  local climit, rlimit, period = limits()
  local granted = {}
  while #granted < 2 * GRANT_MOST do
    local head = redis.call('ZRANGE', waiting_key, 0, 0)[1]
    if not head then break end
    local run = redis.call('HGET', waiting_runs_key, head) or '0'
    local why, free_at = blocked(climit, rlimit, period)
    if why ~= '' then return granted, why, head, run, free_at end
    redis.call('ZREM', waiting_key, head)
    redis.call('HDEL', waiting_runs_key, head)
    redis.call('HSET', holders_key, head, run)
    if rlimit > 0 then redis.call('ZADD', starts_key, now, head .. ':' .. run) end
    granted[#granted + 1] = head
    granted[#granted + 1] = run
  end
  return granted, '', '', '', 0
end

-- {'ok', 1 when instance `me` holds the gate for run `run`, why blocked, head, head's run,
-- free at, 1 when the gate is empty (its config goes), granted id, run, ...}
local function answer(me, run)
  local granted, why, head, head_run, free_at = pump()
  local mine = me ~= '' and redis.call('HGET', holders_key, me) == run
  local empty = redis.call('EXISTS', holders_key, waiting_key, starts_key) == 0
  if empty then redis.call('DEL', config_key) end
  local reply = {'ok', mine and 1 or 0, why, head, head_run, free_at, empty and 1 or 0}
  for _, value in ipairs(granted) do reply[#reply + 1] = value end
  return reply
end

-- The run of an instance's entry in a hash of the gate, as a number (-1 for none).
local function run_in(key, id)
  return tonumber(redis.call('HGET', key, id) or -1)
end
