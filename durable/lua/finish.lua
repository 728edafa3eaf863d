-- End the run: complete with output or errored with error; start the retention clock.
-- KEYS: ikey, steps_stem, events_stem, logs_stem, eids_key
-- ARGV (after wf, iid): fence, run, outcome ('complete'|'errored'), value (output or error
--   JSON), log_lines, log_count (workflow-level lines among them)
-- Replies: {'ok'} | {'fenced'}
if not holds(fence) then return {'fenced'} end
push_logs(run, log_lines)
count_logs(log_count)
release_lease()
drop_job()
redis.call('HDEL', ikey, 'pause', 'wake', 'output', 'error', 'lost')
redis.call('HSET', ikey, outcome == 'complete' and 'output' or 'error', value, 'completed', now)
set_status(outcome)
expire_all()
return {'ok'}
