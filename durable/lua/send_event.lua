-- Store an event for the current run and wake the instance.
-- KEYS: ikey, events_stem, eids_key
-- ARGV (after wf, iid): head (the event record without its closing brace and without "c"),
--   payload (JSON), event_id (the client's id, '' for none), traceparent (W3C trace context
--   of the request that sends it, '' for none; kept as the instance's 'tp', so the execution
--   that follows continues that trace)
-- Replies: {'ok'|'dup', status, run, output, error} (as they were before; 'dup': an event with
--   this id was stored before, nothing new is) | {'notfound'} | {'terminal', status}
local status = hget('status')
if not status then return {'notfound'} end
local before = redis.call('HMGET', ikey, 'status', 'run', 'output', 'error')
if event_id ~= '' and redis.call('HEXISTS', eids_key, event_id) == 1 then
  return {'dup', before[1], before[2], before[3] or '', before[4] or ''}
end
if is_terminal(status) then return {'terminal', status} end
local run = hget('run')
local seq = redis.call('HINCRBY', ikey, 'evn', 1)
redis.call('HSET', events_stem .. run, seq, head .. ',"c":' .. now .. '}', seq .. ':p', payload)
if event_id ~= '' then redis.call('HSET', eids_key, event_id, run .. ':' .. seq) end
if traceparent ~= '' then redis.call('HSET', ikey, 'tp', traceparent) end
if status == 'waiting' then
  set_status('queued')
  schedule(now)
elseif status == 'running' then
  redis.call('HSET', ikey, 'wake', 1, 'updated', now)
else
  redis.call('HSET', ikey, 'updated', now)
end
return {'ok', before[1], before[2], before[3] or '', before[4] or ''}
