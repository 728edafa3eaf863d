-- End the run: complete with output or errored with error; start the retention clock. The
-- lease goes with it; a call retried after its reply was lost answers 'ok' again (only this
-- call can have ended the run under its fence: every other transition bumps the fence).
-- KEYS: ikey, steps_stem, events_stem, logs_stem, eids_key, children_key
-- ARGV (after wf, iid): fence, run, outcome ('complete'|'errored'), value (output or error
--   JSON), log_lines, log_count (workflow-level lines among them)
-- Replies: {'ok', outbox entry...} (what ending owes a parent: _children.lua) | {'fenced'}
local cur = redis.call('HMGET', ikey, 'fence', 'status')
if cur[1] == fence and cur[2] == outcome then return {'ok'} end  -- a retry after a lost reply
if not holds(fence) then return {'fenced'} end
push_logs(run, log_lines)
count_logs(log_count)
release_lease()
drop_job()
-- 'grant' (durable/gate.py): a run reopened by retry-step asks its gate again
redis.call('HDEL', ikey, 'pause', 'wake', 'output', 'error', 'lost', 'ewf', 'ewk', 'ew', 'grant')
redis.call('HSET', ikey, outcome == 'complete' and 'output' or 'error', value, 'completed', now)
set_status(outcome)
expire_all()
return {'ok', unpack(outbox_on_end(true, false))}
