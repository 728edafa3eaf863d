-- Housekeeping, shared by reap (a runner tick, a plain arq worker's loop) and take (every
-- durable worker, as it takes work). Included after _lib.lua.

-- Bind the prologue's instance names to the instance of member m ("wf/id").
local function bind(m)
  local at = string.find(m, member_separator, 1, true)
  member, wf, iid = m, string.sub(m, 1, at - 1), string.sub(m, at + #member_separator)
  ikey, steps_stem = instance_key(wf, iid), instance_steps_stem(wf, iid)
end

local statuses = {'queued', 'running', 'waiting', 'paused', 'complete', 'errored', 'terminated'}

local function drop_from_indexes()
  redis.call('ZREM', workflow_index_key(wf), iid)
  local versions = versions_key(wf)
  local version = redis.call('HGET', versions, iid)
  if version then
    redis.call('HDEL', versions, iid)
    redis.call('ZREM', version_index_key(wf, version), iid)
  end
  for _, s in ipairs(statuses) do
    redis.call('ZREM', status_index_key(wf, s), iid)
    if version then redis.call('ZREM', version_status_index_key(wf, version, s), iid) end
  end
end

-- One member of the lease set that came due: a dead worker's lease (recovered: fence bumped,
-- queued now), a job nobody leased in time (re-issued), or a live lease (put back). True when
-- it recovered the instance.
local function recover(m)
  bind(m)
  redis.call('ZREM', leases_key, m)
  local status, job = hget('status'), hget('job')
  if status == 'running' then
    local lease = tonumber(hget('lease') or 0)
    if lease > now then
      redis.call('ZADD', leases_key, lease, m)
      return false
    end
    local dead = hget('ajob')
    if dead then  -- arq's markers of a dead plain arq worker's job would linger for a day
      redis.call('DEL', arq_in_progress_key(dead), arq_retry_key(dead))
    end
    redis.call('HINCRBY', ikey, 'fence', 1)
    redis.call('HINCRBY', ikey, 'lost', 1)
    redis.call('HDEL', ikey, 'lease', 'owner', 'ajob')
    set_status('queued')
    schedule(now)
    return true
  elseif job and (status == 'queued' or status == 'waiting') then
    local claimed = redis.call('EXISTS', arq_in_progress_key(job)) == 1
    if claimed or not redis.call('ZSCORE', queue_key, job) then
      schedule(tonumber(hget('due')))
      return true
    end
    redis.call('ZADD', leases_key, now + lease_ttl_ms, m)
  end
  return false
end

-- Recover expired leases and drop expired instances from the indexes, at most `limit` members
-- of each set; returns how many of each.
local function housekeep(limit)
  local recovered, expired = 0, 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', leases_key, '-inf', now, 'LIMIT', 0, limit)) do
    if recover(m) then recovered = recovered + 1 end
  end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now, 'LIMIT', 0, limit)) do
    bind(m)
    local ttl = redis.call('PTTL', ikey)
    if ttl == -2 then  -- gone: out of the indexes
      redis.call('ZREM', expiry_key, m)
      drop_from_indexes()
      expired = expired + 1
    elseif ttl >= 0 then  -- due but not expired yet (the same millisecond): looked at again then
      redis.call('ZADD', expiry_key, now + ttl + 1, m)
    else  -- kept for good since (no expiry): nothing to drop
      redis.call('ZREM', expiry_key, m)
    end
  end
  return recovered, expired
end

-- The score of a sorted set's first member, or -1 when it is empty.
local function head_score(key)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return head[2] and tonumber(head[2]) or -1
end

-- Outbox entries (_children.lua) whose caller did not carry them over in time (it died): up to
-- `limit` of them, handed to the caller of this script and due again a lease TTL later, in case
-- it dies too.
local function sweep_outbox(limit)
  local due = redis.call('ZRANGEBYSCORE', outbox_key, '-inf', now, 'LIMIT', 0, limit)
  for _, entry in ipairs(due) do redis.call('ZADD', outbox_key, now + lease_ttl_ms, entry) end
  return due
end
