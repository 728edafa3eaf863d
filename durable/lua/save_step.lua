-- Record a step while holding the lease.
-- KEYS: ikey, steps_stem, logs_stem
-- ARGV (after wf, iid): fence, run, key (the step key), record (JSON, starting with its
--   status), mode ('start'|'commit'), log_lines, log_count (workflow-level lines among them),
--   max_steps (per run)
-- Replies: {'ok', pause requested 1|0, woken 1|0} | {'fenced'} | {'exists', record}
--   | {'limit'}
if not holds(fence) then return {'fenced'} end
local skey = steps_stem .. run
local existing = redis.call('HGET', skey, key)
if existing then
  local s = string.match(existing, '^{"s":"(%a+)"')
  if s == 'completed' or s == 'errored' then return {'exists', existing} end
elseif redis.call('HLEN', skey) >= tonumber(max_steps) then
  return {'limit'}
end
redis.call('HSET', skey, key, record)
redis.call('HSET', ikey, 'cur', key, 'updated', now)
push_logs(run, log_lines)
count_logs(log_count)
if mode == 'commit' then redis.call('HDEL', ikey, 'lost') end
local flags = redis.call('HMGET', ikey, 'pause', 'wake')
return {'ok', tonumber(flags[1] or 0), tonumber(flags[2] or 0)}
