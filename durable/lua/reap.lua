-- Housekeeping run by every worker: recover instances whose lease expired (their worker died),
-- re-issue jobs a dead worker claimed but never started, and drop index entries of instances
-- whose retention ran out.
-- Called with a placeholder instance. ARGV[A+1] batch limit. Returns {recovered, expired}.
local limit = tonumber(ARGV[A + 1])

local function bind(m)
  member = m
  wf, iid = string.match(m, '^([^/]*)/(.*)$')
  base = P .. ':{' .. m .. '}'
  ikey = base .. ':i'
  ststem = P .. ':w:' .. wf .. ':st:'
  wfidx = P .. ':w:' .. wf .. ':all'
  jobstem = P .. ':job:' .. m .. ':'
end

local recovered, expired = 0, 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, limit)) do
  bind(m)
  redis.call('ZREM', leases, m)
  local status, job = hget('status'), hget('job')
  if status == 'running' then
    local lease = tonumber(hget('lease') or 0)
    if lease <= now then
      local dead = hget('ajob')
      if dead then  -- arq's markers of the dead worker's job would linger for a day
        redis.call('DEL', 'arq:in-progress:' .. dead, 'arq:retry:' .. dead)
      end
      redis.call('HINCRBY', ikey, 'fence', 1)
      redis.call('HINCRBY', ikey, 'lost', 1)
      redis.call('HDEL', ikey, 'lease', 'owner', 'ajob')
      set_status('queued')
      schedule(now)
      recovered = recovered + 1
    else
      redis.call('ZADD', leases, lease, m)
    end
  elseif job and (status == 'queued' or status == 'waiting') then
    local claimed = redis.call('EXISTS', 'arq:in-progress:' .. job) == 1
    if claimed or not redis.call('ZSCORE', queue, job) then
      schedule(tonumber(hget('due')))
      recovered = recovered + 1
    else
      redis.call('ZADD', leases, now + leasettl, m)
    end
  end
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, limit)) do
  bind(m)
  redis.call('ZREM', expiry, m)
  if redis.call('EXISTS', ikey) == 0 then
    redis.call('ZREM', wfidx, iid)
    local versions = P .. ':w:' .. wf .. ':ver'
    local version = redis.call('HGET', versions, iid)
    if version then
      redis.call('HDEL', versions, iid)
      redis.call('ZREM', version_stem(version) .. 'all', iid)
    end
    for _, s in ipairs({'queued', 'running', 'waiting', 'paused', 'complete', 'errored', 'terminated'}) do
      redis.call('ZREM', ststem .. s, iid)
      if version then redis.call('ZREM', version_stem(version) .. 'st:' .. s, iid) end
    end
    expired = expired + 1
  end
end
return {recovered, expired}
