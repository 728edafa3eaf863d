-- Take the lease to advance an instance.
-- KEYS: ikey, steps_stem
-- ARGV (after wf, iid): job_id (the job being run, '' = any), owner, ttl_ms (of the lease)
-- Replies: {'ok', fence, now, instance fields, step fields of the run, due (of the job taken,
--   0 for none), status (before this call: 'waiting' means a timer came due)}
--   | {'early', job id, due, now} (this worker's clock runs ahead of Redis; job re-issued)
--   | {'gone'} | {'stale'} (another job is pending) | {'busy'} (leased elsewhere)
--   | {'inactive', status} (paused or ended)
local ttl = tonumber(ttl_ms)
local status = hget('status')
if not status then return {'gone'} end
if status == 'running' and job_id ~= '' and hget('ajob') == job_id and hget('owner') == owner then
  -- a retried call whose first reply was lost: the lease is already ours
  local run = hget('run')
  return {'ok', hget('fence'), now, redis.call('HGETALL', ikey),
    redis.call('HGETALL', steps_stem .. run), 0, status}
end
local current = hget('job')
if job_id ~= '' and current ~= job_id then return {'stale'} end
if status == 'running' then
  if tonumber(hget('lease') or 0) > now then return {'busy'} end
  redis.call('HINCRBY', ikey, 'lost', 1)
elseif status ~= 'queued' and status ~= 'waiting' then
  drop_job()
  return {'inactive', status}
end
local due = tonumber(hget('due') or 0)
if status == 'waiting' and due > now then
  return {'early', schedule(due), due, now}
end
drop_job()
local fence = redis.call('HINCRBY', ikey, 'fence', 1)
set_status('running')
redis.call('HSET', ikey, 'lease', now + ttl, 'owner', owner, 'ajob', job_id)
redis.call('HDEL', ikey, 'wake')
if not hget('started') then redis.call('HSET', ikey, 'started', now) end
redis.call('ZADD', leases_key, now + ttl, member)
local run = hget('run')
return {'ok', fence, now, redis.call('HGETALL', ikey), redis.call('HGETALL', steps_stem .. run),
  due, status}
