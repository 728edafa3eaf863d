-- Take due jobs of the queue for a durable worker: lease the instance of each (as acquire
-- does) and answer it with its run's recorded steps, up to `count` of them in one call.
-- Housekeeping that has come due rides along (a few members of the lease and expiry sets per
-- call), so no worker keeps a housekeeping timer of its own.
-- KEYS: (none; each job's instance keys are bound in turn)
-- ARGV: owner, ttl_ms (of the leases), token (this call's; a retry after a lost reply answers
--   the leases the first call took), count (the most instances to lease), ahead_ms (a job due
--   this soon counts as due: its worker waits the rest, which a round trip covers anyway)
-- Replies: {'ok', now, next due, housekeeping due, recovered, expired, swept, {job id,
--   workflow, instance id, fence, instance fields, step fields of the run, due (of the job),
--   status before}, ...}
--   | {'arq', job id, score, recovered, expired, swept} (a job of another arq function,
--   claimed with arq's in-progress key for arq's own run_job)
--   | {'none', now, next due, housekeeping due, recovered, expired, swept}
-- swept: outbox entries left behind, for the worker to carry over (_children.lua).
-- Next due: the queue's head once this call is done (-1 when it is empty), so a worker knows
-- whether to take again at once or when; housekeeping due: the first lease expiry or retention
-- deadline (-1: none).
-- A due job whose instance cannot be leased is dropped (its instance ended, or another job
-- replaced it); a job a plain arq worker claimed is left to it.
local SCAN, REAP = 16, 20
local ttl, most, ahead = tonumber(ttl_ms), tonumber(count), tonumber(ahead_ms)
local recovered, expired = housekeep(REAP)
local swept = sweep_outbox(REAP)

local function answer(tag, leased)
  local leases, expiry = head_score(leases_key), head_score(expiry_key)
  local chores = (leases < 0 or (expiry >= 0 and expiry < leases)) and expiry or leases
  local reply = {tag, now, head_score(queue_key), chores, recovered, expired, swept}
  for _, one in ipairs(leased or {}) do reply[#reply + 1] = one end
  return reply
end

local function leased(jid, got)
  return {jid, wf, iid, got[2], got[3], got[4], got[5], got[6], got[7]}
end

-- A retry of a call whose reply was lost: the leases it took that it still holds.
local receipt = redis.call('GET', take_receipt_key(owner))
if receipt and string.sub(receipt, 1, #token + 1) == token .. '\n' then
  local again, noted = {}, string.sub(receipt, #token + 2)
  for jid, m, fence in string.gmatch(noted, '([^\n]+)\n([^\n]+)\n(%d+)') do
    bind(m)
    local cur = redis.call('HMGET', ikey, 'status', 'owner', 'fence', 'run')
    if cur[1] == 'running' and cur[2] == owner and cur[3] == fence then
      again[#again + 1] = leased(jid, {'ok', fence, now, redis.call('HGETALL', ikey),
        redis.call('HGETALL', steps_stem .. cur[4]), 0, 'running'})
    end
  end
  if #again > 0 then return answer('ok', again) end
end

local function drop(jid)
  redis.call('ZREM', queue_key, jid)
  redis.call('ZREM', wake_key, jid)
  redis.call('DEL', arq_job_key(jid))
end

local took, noted = {}, {token}
local due = redis.call('ZRANGEBYSCORE', queue_key, '-inf', now + ahead, 'WITHSCORES', 'LIMIT', 0,
  SCAN + most)
for i = 1, #due, 2 do
  if #took >= most then break end
  local jid = due[i]
  if redis.call('EXISTS', arq_in_progress_key(jid)) == 0 then
    local raw = redis.call('GET', arq_job_key(jid))
    local ok, job = pcall(cjson.decode, raw or '')
    if not ok or type(job) ~= 'table' then
      drop(jid)  -- its arq job expired or is not arq's
    elseif job['f'] ~= fname then
      if #took > 0 then break end  -- the next call claims it
      redis.call('SET', arq_in_progress_key(jid), '1', 'PX', job_ttl_ms + 10000)
      redis.call('ZREM', wake_key, jid)
      return {'arq', jid, due[i + 1], recovered, expired, swept}
    else
      bind(job['a'][1] .. member_separator .. job['a'][2])
      local got = lease(jid, owner, ttl, '', ahead)
      if got[1] == 'ok' then
        took[#took + 1] = leased(jid, got)
        noted[#noted + 1] = jid .. '\n' .. member .. '\n' .. got[2]
      elseif got[1] == 'busy' then
        redis.call('ZADD', queue_key, hget('lease'), jid)  -- due again when that lease ends
      elseif got[1] ~= 'early' then
        drop(jid)  -- gone, stale or inactive: lease() dropped the instance's own job already
      end
    end
  end
end
if #took == 0 then return answer('none') end
redis.call('SET', take_receipt_key(owner), table.concat(noted, '\n'), 'PX', ttl)
return answer('ok', took)
