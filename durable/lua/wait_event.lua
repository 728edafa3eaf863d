-- Resolve a wait_for_event step: consume the oldest unconsumed event of the type created no
-- later than the deadline, or time out, or record the wait.
-- ARGV[A+1] fence, A+2 run, A+3 step key, A+4 event type, A+5 deadline ms,
-- A+6 step record JSON without status and closing brace, A+7 log lines,
-- A+8 workflow-level log count, A+9 max steps per run, A+10 timeout message.
-- Returns {'event', step record, now} | {'timeout', step record} | {'wait', step record}
--       | {'fenced'} | {'limit'}.
local fence, run, key, etype = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], ARGV[A + 4]
local deadline, head = tonumber(ARGV[A + 5]), ARGV[A + 6]
if not holds(fence) then return {'fenced'} end
local skey, ekey = base .. ':s:' .. run, base .. ':e:' .. run
local existing = redis.call('HGET', skey, key)
if existing then  -- a retried call whose first reply was lost: answer it again
  local s = string.match(existing, '^{"s":"(%a+)"')
  if s == 'completed' then return {'event', existing, now} end
  if s == 'errored' then return {'timeout', existing, now} end
end
if redis.call('HEXISTS', skey, key) == 0 and redis.call('HLEN', skey) >= tonumber(ARGV[A + 9]) then
  return {'limit'}
end
push_logs(run, ARGV[A + 7])
count_logs(ARGV[A + 8])
redis.call('HSET', ikey, 'cur', key, 'updated', now)
head = head .. ',"u":' .. now

local function save(outcome, status, tail)
  local rec = '{"s":"' .. status .. '",' .. string.sub(head, 2) .. tail .. '}'
  redis.call('HSET', skey, key, rec)
  return {outcome, rec, now}
end

for seq = 1, tonumber(hget('evn') or 0) do
  if redis.call('HEXISTS', ekey, seq .. ':k') == 0 then
    local raw = redis.call('HGET', ekey, seq)
    local ev = raw and cjson.decode(raw)
    if ev and ev['t'] == etype and tonumber(ev['c']) <= deadline then
      redis.call('HSET', ekey, seq .. ':k', key, seq .. ':d', now)
      redis.call('HDEL', ikey, 'lost')
      local payload = redis.call('HGET', ekey, seq .. ':p') or 'null'
      return save('event', 'completed', ',"r":{"type":' .. cjson.encode(etype) ..
        ',"payload":' .. payload .. ',"timestamp":' .. ev['c'] .. '}')
    end
  end
end
if now >= deadline then
  return save('timeout', 'errored', ',"e":{"name":"WaitForEventTimeoutError","message":' ..
    cjson.encode(ARGV[A + 10]) .. '}')
end
return save('wait', 'waiting', '')
