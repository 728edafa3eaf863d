-- Wake an instance its gate granted (due_ms 0: now), or the FIFO's head at the time the rate
-- window frees: a queued instance of that run gets a job by then (an earlier pending job
-- stays; due_ms -1, the sweep's check: now, only when it has no job at all). One leased and not yet granted is marked ('gkick') so that gate_wait schedules it.
-- KEYS: ikey
-- ARGV (after wf, iid): run, due_ms
-- Replies: {'queued'} | {'active'} (running, waiting or paused in that run) | {'stale'} (gone,
--   ended or in another run: it leaves the gate)
local cur = redis.call('HMGET', ikey, 'status', 'run', 'job', 'due', 'grant')
if not cur[1] or is_terminal(cur[1]) or cur[2] ~= run then return {'stale'} end
local due = math.max(tonumber(due_ms), now)
if cur[1] == 'queued' then
  local sooner = tonumber(due_ms) >= 0 and tonumber(cur[4] or 0) > due
  if not cur[3] or sooner then schedule(due) end
  return {'queued'}
end
if cur[1] == 'running' and cur[5] ~= run then redis.call('HSET', ikey, 'gkick', run) end
return {'active'}
