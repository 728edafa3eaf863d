-- Take the next due job of the queue for a durable worker: lease its instance (as acquire does)
-- and answer it with the run's recorded steps, all in one call. Housekeeping that has come due
-- rides along (a few members of the lease and expiry sets per call), so no worker keeps a
-- housekeeping timer of its own.
-- KEYS: (none; each job's instance keys are bound in turn)
-- ARGV: owner, ttl_ms (of the lease), token (this call's; a retry after a lost reply answers
--   the lease the first call took)
-- Replies: {'ok', job id, workflow, instance id, fence, now, instance fields, step fields of
--   the run, due (of the job), status before, recovered, expired}
--   | {'arq', job id, score, recovered, expired} (a job of another arq function, claimed with
--   arq's in-progress key for arq's own run_job)
--   | {'none', now, next due (the queue's head; -1 when empty), housekeeping due (-1: none),
--   recovered, expired}
-- A due job whose instance cannot be leased is dropped (its instance ended, or another job
-- replaced it); a job a plain arq worker claimed is left to it.
local SCAN, REAP = 16, 20
local ttl = tonumber(ttl_ms)
local recovered, expired = housekeep(REAP)

local function taken(jid, got)
  redis.call('ZREM', wake_key, jid)
  local receipt = table.concat({token, jid, member, got[2]}, '\n')
  redis.call('SET', take_receipt_key(owner), receipt, 'PX', ttl)
  return {'ok', jid, wf, iid, got[2], got[3], got[4], got[5], got[6], got[7], recovered, expired}
end

-- A retry of a call whose reply was lost: the lease it took, if it still holds it.
local receipt = redis.call('GET', take_receipt_key(owner))
if receipt then
  local t, jid, m, fence = string.match(receipt, '^(.-)\n(.-)\n(.-)\n(.*)$')
  if t == token then
    bind(m)
    local cur = redis.call('HMGET', ikey, 'status', 'owner', 'fence', 'run')
    if cur[1] == 'running' and cur[2] == owner and cur[3] == fence then
      return taken(jid, {'ok', fence, now, redis.call('HGETALL', ikey),
        redis.call('HGETALL', steps_stem .. cur[4]), 0, 'running'})
    end
  end
end

local function drop(jid)
  redis.call('ZREM', queue_key, jid)
  redis.call('ZREM', wake_key, jid)
  redis.call('DEL', arq_job_key(jid))
end

local due = redis.call('ZRANGEBYSCORE', queue_key, '-inf', now, 'WITHSCORES', 'LIMIT', 0, SCAN)
for i = 1, #due, 2 do
  local jid = due[i]
  if redis.call('EXISTS', arq_in_progress_key(jid)) == 0 then
    local raw = redis.call('GET', arq_job_key(jid))
    local ok, job = pcall(cjson.decode, raw or '')
    if not ok or type(job) ~= 'table' then
      drop(jid)  -- its arq job expired or is not arq's
    elseif job['f'] ~= fname then
      redis.call('SET', arq_in_progress_key(jid), '1', 'PX', job_ttl_ms + 10000)
      redis.call('ZREM', wake_key, jid)
      return {'arq', jid, due[i + 1], recovered, expired}
    else
      bind(job['a'][1] .. member_separator .. job['a'][2])
      local got = lease(jid, owner, ttl, '')
      if got[1] == 'ok' then return taken(jid, got) end
      if got[1] == 'busy' then
        redis.call('ZADD', queue_key, hget('lease'), jid)  -- due again when that lease ends
      elseif got[1] ~= 'early' then
        drop(jid)  -- gone, stale or inactive: lease() dropped the instance's own job already
      end
    end
  end
end
local leases, expiry = head_score(leases_key), head_score(expiry_key)
local chores = (leases < 0 or (expiry >= 0 and expiry < leases)) and expiry or leases
return {'none', now, head_score(queue_key), chores, recovered, expired}
