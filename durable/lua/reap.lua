-- Housekeeping run by every worker: recover instances whose lease expired (their worker died),
-- re-issue jobs a dead worker claimed but never started, and drop index entries of instances
-- whose retention ran out.
-- KEYS: (none; each member of the lease and expiry sets is bound to its keys in turn)
-- ARGV: limit (members per set and call)
-- Replies: {recovered, expired}
local function bind(m)
  local at = string.find(m, member_separator, 1, true)
  member, wf, iid = m, string.sub(m, 1, at - 1), string.sub(m, at + #member_separator)
  ikey = instance_key(wf, iid)
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

local recovered, expired = 0, 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', leases_key, '-inf', now, 'LIMIT', 0, limit)) do
  bind(m)
  redis.call('ZREM', leases_key, m)
  local status, job = hget('status'), hget('job')
  if status == 'running' then
    local lease = tonumber(hget('lease') or 0)
    if lease <= now then
      local dead = hget('ajob')
      if dead then  -- arq's markers of the dead worker's job would linger for a day
        redis.call('DEL', arq_in_progress_key(dead), arq_retry_key(dead))
      end
      redis.call('HINCRBY', ikey, 'fence', 1)
      redis.call('HINCRBY', ikey, 'lost', 1)
      redis.call('HDEL', ikey, 'lease', 'owner', 'ajob')
      set_status('queued')
      schedule(now)
      recovered = recovered + 1
    else
      redis.call('ZADD', leases_key, lease, m)
    end
  elseif job and (status == 'queued' or status == 'waiting') then
    local claimed = redis.call('EXISTS', arq_in_progress_key(job)) == 1
    if claimed or not redis.call('ZSCORE', queue_key, job) then
      schedule(tonumber(hget('due')))
      recovered = recovered + 1
    else
      redis.call('ZADD', leases_key, now + lease_ttl_ms, m)
    end
  end
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now, 'LIMIT', 0, limit)) do
  bind(m)
  redis.call('ZREM', expiry_key, m)
  if redis.call('EXISTS', ikey) == 0 then
    drop_from_indexes()
    expired = expired + 1
  end
end
return {recovered, expired}
