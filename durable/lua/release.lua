-- Give the lease back after a suspension (or a graceful hand-over) and schedule what is next.
-- ARGV[A+1] fence, A+2 run, A+3 due ms, A+4 log lines, A+5 workflow-level log count,
-- A+6 'suspend'|'handover'.
-- Returns {'paused'} | {'queued', job id} | {'waiting', job id} | {'fenced'}.
local fence, run, due, mode = ARGV[A + 1], ARGV[A + 2], tonumber(ARGV[A + 3]), ARGV[A + 6]
if not holds(fence) then return {'fenced'} end
push_logs(run, ARGV[A + 4])
count_logs(ARGV[A + 5])
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
