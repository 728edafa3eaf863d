-- Taking an instance's lease, shared by acquire (one instance, named by its job) and take (the
-- next due job of the queue). Included after _lib.lua; ikey and steps_stem name the instance.

-- Lease the instance for `job_id` ('' = any job): {'ok', fence, now, instance fields, step
-- fields of the run, due (of the job taken, 0 for none), status before} | {'early', job id, due,
-- now} (it waits until due; its job was re-issued) | {'gone'} | {'stale'} (another job is
-- pending) | {'busy'} (leased elsewhere) | {'inactive', status} (paused or ended).
-- `ajob` ('' for none) is kept on the lease: an acquire for that job by the same owner is a
-- retry of the call that took it (take keeps none: a take's retry has its receipt instead, and
-- an acquire by the same worker for the job a take leased is not a retry but a race lost).
-- A waiting instance is leased up to `ahead` ms before it is due (its worker waits the rest).
local function lease(job_id, owner, ttl, ajob, ahead)
  local cur = redis.call('HMGET', ikey, 'status', 'ajob', 'owner', 'job', 'lease', 'due',
    'started', 'run', 'fence')
  local status, run = cur[1], cur[8]
  if not status then return {'gone'} end
  if status == 'running' and job_id ~= '' and cur[2] == job_id and cur[3] == owner then
    -- a retried call whose first reply was lost: the lease is already ours
    return {'ok', cur[9], now, redis.call('HGETALL', ikey),
      redis.call('HGETALL', steps_stem .. run), 0, status}
  end
  if job_id ~= '' and cur[4] ~= job_id then return {'stale'} end
  if status == 'running' then
    if tonumber(cur[5] or 0) > now then return {'busy'} end
    redis.call('HINCRBY', ikey, 'lost', 1)
  elseif status ~= 'queued' and status ~= 'waiting' then
    drop_job()
    return {'inactive', status}
  end
  local due = tonumber(cur[6] or 0)
  if status == 'waiting' and due > now + ahead then
    return {'early', schedule(due), due, now}
  end
  drop_job()
  local fence = redis.call('HINCRBY', ikey, 'fence', 1)
  set_status('running')
  if ajob ~= '' then
    redis.call('HSET', ikey, 'lease', now + ttl, 'owner', owner, 'ajob', ajob)
    redis.call('HDEL', ikey, 'wake')
  else
    redis.call('HSET', ikey, 'lease', now + ttl, 'owner', owner)
    redis.call('HDEL', ikey, 'wake', 'ajob')
  end
  if not cur[7] then redis.call('HSET', ikey, 'started', now) end
  redis.call('ZADD', leases_key, now + ttl, member)
  return {'ok', fence, now, redis.call('HGETALL', ikey), redis.call('HGETALL', steps_stem .. run),
    due, status}
end
