-- Take the lease to advance an instance.
-- ARGV[A+1] job id ('' = any), A+2 owner, A+3 lease ttl ms.
-- Returns {'ok', fence, now, instance fields, step fields}, {'early', job id, due, now} (this
-- worker's clock runs ahead of Redis) or {reason}.
local job, owner, ttl = ARGV[A + 1], ARGV[A + 2], tonumber(ARGV[A + 3])
local status = hget('status')
if not status then return {'gone'} end
if status == 'running' and job ~= '' and hget('ajob') == job and hget('owner') == owner then
  -- a retried call whose first reply was lost: the lease is already ours
  local run = hget('run')
  return {'ok', hget('fence'), now, redis.call('HGETALL', ikey),
    redis.call('HGETALL', base .. ':s:' .. run)}
end
local current = hget('job')
if job ~= '' and current ~= job then return {'stale'} end
if status == 'running' then
  if tonumber(hget('lease') or 0) > now then return {'busy'} end
  redis.call('HINCRBY', ikey, 'lost', 1)
elseif status ~= 'queued' and status ~= 'waiting' then
  drop_job()
  return {status}
end
local due = tonumber(hget('due') or 0)
if status == 'waiting' and due > now then
  return {'early', schedule(due), due, now}
end
drop_job()
local fence = redis.call('HINCRBY', ikey, 'fence', 1)
set_status('running')
redis.call('HSET', ikey, 'lease', now + ttl, 'owner', owner, 'ajob', job)
redis.call('HDEL', ikey, 'wake')
if not hget('started') then redis.call('HSET', ikey, 'started', now) end
redis.call('ZADD', leases, now + ttl, member)
local run = hget('run')
return {'ok', fence, now, redis.call('HGETALL', ikey), redis.call('HGETALL', base .. ':s:' .. run)}
