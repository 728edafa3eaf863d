-- Pause an instance: at once when it is queued or waiting, at its next step when running.
-- KEYS: ikey
-- ARGV (after wf, iid): (none)
-- Replies: {'ok', status before} | {'notfound'} | {'terminal', status}
local status = hget('status')
if not status then return {'notfound'} end
if is_terminal(status) then return {'terminal', status} end
if status == 'queued' or status == 'waiting' then
  drop_job()
  set_status('paused')
elseif status == 'running' then
  redis.call('HSET', ikey, 'pause', 1, 'updated', now)
end
return {'ok', status}
