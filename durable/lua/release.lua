-- Give the lease back after a suspension (or a graceful hand-over) and schedule what is next.
-- KEYS: ikey, logs_stem
-- ARGV (after wf, iid): fence, run, due_ms (of the next wake-up), log_lines, log_count
--   (workflow-level lines among them), mode ('suspend'|'handover'|'defer': queued again, due at
--   due_ms, by a worker that cannot run the workflow)
-- Replies: {'paused'} | {'queued', job id} | {'waiting', job id} | {'fenced'}
local due = tonumber(due_ms)
-- A retry after a lost reply: the fence is unchanged (any lease taken since bumps it), so this
-- call released the lease; it answers the same again.
local cur = redis.call('HMGET', ikey, 'fence', 'status', 'job')
if cur[1] == fence and cur[2] ~= 'running' then
  if cur[2] == 'paused' then return {'paused'} end
  if cur[2] == 'queued' or cur[2] == 'waiting' then return {cur[2], cur[3]} end
end
if not holds(fence) then return {'fenced'} end
push_logs(run, log_lines)
count_logs(log_count)
release_lease()
if hget('pause') == '1' then
  redis.call('HDEL', ikey, 'pause', 'wake')
  drop_job()
  set_status('paused')
  return {'paused'}
end
if mode == 'defer' then
  set_status('queued')
  return {'queued', schedule(math.max(due, now))}
end
if mode == 'handover' or hget('wake') == '1' or due <= now then
  redis.call('HDEL', ikey, 'wake')
  set_status('queued')
  return {'queued', schedule(now)}
end
set_status('waiting')
return {'waiting', schedule(due)}
