-- Store an event for the current run and wake the instance. When the instance is suspended on
-- one wait_for_event step for this type (wait_event.lua notes it) and its deadline has not
-- passed, the event completes that step here: the worker woken finds it done and goes on to the
-- next step without another call. Which step takes the event is what the wait_event script
-- would decide: no older unconsumed event of the type can exist while the instance waits (it
-- would have been taken by that wait), and a suspension on several waits is left to it.
-- KEYS: ikey, steps_stem, events_stem, eids_key
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
  local ew = redis.call('HMGET', ikey, 'ewk', 'ew')
  if ew[1] and ew[1] ~= '' then
    local etype, deadline, whead = string.match(ew[2], '^([^\n]*)\n(%d+)\n(.*)$')
    local waiting = redis.call('HGET', steps_stem .. run, ew[1])
    if etype == cjson.decode(head .. '}')['t'] and now <= tonumber(deadline) and waiting and
        string.sub(waiting, 1, 15) == '{"s":"waiting",' then
      complete_wait(run, ew[1], whead, seq, etype, now)
      redis.call('HDEL', ikey, 'ewf', 'ewk', 'ew')
    end
  end
end
wake_instance(status)
return {'ok', before[1], before[2], before[3] or '', before[4] or ''}
