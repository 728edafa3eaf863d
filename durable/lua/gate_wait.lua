-- A leased instance its gate did not grant goes back to 'queued' with no job (the gate wakes it
-- when it is granted), or a job at due_ms (the FIFO's head behind the rate window); `note` says
-- what it waits behind (meta.waitingFor). A grant that came while it was leased ('gkick' of
-- this run, from gate_wake) schedules it now instead. A pause requested meanwhile pauses it.
-- KEYS: ikey
-- ARGV (after wf, iid): fence, run, key_value (JSON), note (JSON), due_ms (0: no job)
-- Replies: {'held'} (no job) | {'queued'} (a job) | {'paused'} | {'fenced'}
if not holds(fence) then return {'fenced'} end
release_lease()
local kicked = hget('gkick') == run
redis.call('HSET', ikey, 'gate', key_value, 'gwait', note)
redis.call('HDEL', ikey, 'gkick', 'wake', 'started')  -- it has not started yet
if hget('pause') == '1' then
  redis.call('HDEL', ikey, 'pause')
  drop_job()
  set_status('paused')
  return {'paused'}
end
set_status('queued')
local due = tonumber(due_ms)
if kicked then due = now end
if due > 0 then
  schedule(due)
  return {'queued'}
end
drop_job()
return {'held'}
