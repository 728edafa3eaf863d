-- Give the lease back after a suspension (or a graceful hand-over) and schedule what is next.
-- KEYS: ikey, logs_stem
-- ARGV (after wf, iid): fence, run, due_ms (of the next wake-up), log_lines, log_count
--   (workflow-level lines among them), mode ('suspend'|'handover')
-- Replies: {'paused'} | {'queued', job id} | {'waiting', job id} | {'fenced'}
local due = tonumber(due_ms)
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
if mode == 'handover' or hget('wake') == '1' or due <= now then
  redis.call('HDEL', ikey, 'wake')
  set_status('queued')
  return {'queued', schedule(now)}
end
set_status('waiting')
return {'waiting', schedule(due)}
