-- Record a step while holding the lease.
-- ARGV[A+1] fence, A+2 run, A+3 step key, A+4 record JSON (starting with its status), A+5 'start'|'commit',
-- A+6 log lines, A+7 workflow-level log count, A+8 max steps per run.
-- Returns {'ok', pause, wake} | {'fenced'} | {'exists', record} | {'limit'}.
local fence, run, key, record, mode = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], ARGV[A + 4], ARGV[A + 5]
if not holds(fence) then return {'fenced'} end
local skey = base .. ':s:' .. run
local existing = redis.call('HGET', skey, key)
if existing then
  local s = string.match(existing, '^{"s":"(%a+)"')
  if s == 'completed' or s == 'errored' then return {'exists', existing} end
elseif redis.call('HLEN', skey) >= tonumber(ARGV[A + 8]) then
  return {'limit'}
end
redis.call('HSET', skey, key, record)
redis.call('HSET', ikey, 'cur', key, 'updated', now)
push_logs(run, ARGV[A + 6])
count_logs(ARGV[A + 7])
if mode == 'commit' then redis.call('HDEL', ikey, 'lost') end
local flags = redis.call('HMGET', ikey, 'pause', 'wake')
return {'ok', tonumber(flags[1] or 0), tonumber(flags[2] or 0)}
