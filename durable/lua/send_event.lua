-- Store an event for the current run and wake the instance.
-- ARGV[A+1] event record without closing brace (no "c"), A+2 payload JSON, A+3 client event id.
-- Returns {'ok'|'dup', status, run, output, error} | {'notfound'} | {'terminal', status}.
local head, payload, eid = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3]
local status = hget('status')
if not status then return {'notfound'} end
local before = redis.call('HMGET', ikey, 'status', 'run', 'output', 'error')
if eid ~= '' and redis.call('HEXISTS', base .. ':eid', eid) == 1 then
  return {'dup', before[1], before[2], before[3] or '', before[4] or ''}
end
if is_terminal(status) then return {'terminal', status} end
local run = hget('run')
local seq = redis.call('HINCRBY', ikey, 'evn', 1)
redis.call('HSET', base .. ':e:' .. run, seq, head .. ',"c":' .. now .. '}', seq .. ':p', payload)
if eid ~= '' then redis.call('HSET', base .. ':eid', eid, run .. ':' .. seq) end
if status == 'waiting' then
  set_status('queued')
  schedule(now)
elseif status == 'running' then
  redis.call('HSET', ikey, 'wake', 1, 'updated', now)
else
  redis.call('HSET', ikey, 'updated', now)
end
return {'ok', before[1], before[2], before[3] or '', before[4] or ''}
