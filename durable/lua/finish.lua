-- End the run: complete with output or errored with error; start the retention clock.
-- ARGV[A+1] fence, A+2 run, A+3 'complete'|'errored', A+4 output or error JSON,
-- A+5 log lines, A+6 workflow-level log count. Returns {'ok'} | {'fenced'}.
local fence, run, outcome, value = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], ARGV[A + 4]
if not holds(fence) then return {'fenced'} end
push_logs(run, ARGV[A + 5])
count_logs(ARGV[A + 6])
release_lease()
drop_job()
redis.call('HDEL', ikey, 'pause', 'wake', 'output', 'error', 'lost')
redis.call('HSET', ikey, outcome == 'complete' and 'output' or 'error', value, 'completed', now)
set_status(outcome)
expire_all()
return {'ok'}
