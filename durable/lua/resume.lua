-- Resume a paused instance (or cancel a pause not yet taken by a running one).
-- KEYS: ikey
-- ARGV (after wf, iid): (none)
-- Replies: {'ok', status before} | {'notfound'} | {'terminal', status}
local status = hget('status')
if not status then return {'notfound'} end
if is_terminal(status) then return {'terminal', status} end
if status == 'paused' then
  set_status('queued')
  schedule(now)
elseif status == 'running' then
  redis.call('HDEL', ikey, 'pause')
end
return {'ok', status}
