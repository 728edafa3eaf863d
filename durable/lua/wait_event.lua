-- Resolve a wait_for_event step: consume the oldest unconsumed event of the type created no
-- later than the deadline, or time out, or record the wait.
-- KEYS: ikey, steps_stem, events_stem, logs_stem
-- ARGV (after wf, iid): fence, run, key (the step key), event_type, deadline_ms, head (the step
--   record without status and closing brace), log_lines, log_count (workflow-level lines among
--   them), max_steps (per run), timeout_message
-- Replies: {'event', step record, now} | {'timeout', step record, now}
--   | {'wait', step record, now} | {'fenced'} | {'limit'}
local deadline = tonumber(deadline_ms)
if not holds(fence) then return {'fenced'} end
local skey, ekey = steps_stem .. run, events_stem .. run
local existing = redis.call('HGET', skey, key)
if existing then  -- a retried call whose first reply was lost: answer it again
  local s = string.match(existing, '^{"s":"(%a+)"')
  if s == 'completed' then return {'event', existing, now} end
  if s == 'errored' then return {'timeout', existing, now} end
end
if redis.call('HEXISTS', skey, key) == 0 and redis.call('HLEN', skey) >= tonumber(max_steps) then
  return {'limit'}
end
push_logs(run, log_lines)
count_logs(log_count)
redis.call('HSET', ikey, 'cur', key, 'updated', now)

local function save(outcome, status, tail)
  local rec = '{"s":"' .. status .. '",' .. string.sub(head, 2) .. ',"u":' .. now .. tail .. '}'
  redis.call('HSET', skey, key, rec)
  return {outcome, rec, now}
end

for seq = 1, tonumber(hget('evn') or 0) do
  if redis.call('HEXISTS', ekey, seq .. ':k') == 0 then
    local raw = redis.call('HGET', ekey, seq)
    local ev = raw and cjson.decode(raw)
    if ev and ev['t'] == event_type and tonumber(ev['c']) <= deadline then
      return {'event', complete_wait(run, key, head, seq, event_type, ev['c']), now}
    end
  end
end
if now >= deadline then
  return save('timeout', 'errored', ',"e":{"name":"WaitForEventTimeoutError","message":' ..
    cjson.encode(timeout_message) .. '}')
end
-- The wait the instance suspends on, for send_event to complete at once when its event comes
-- (the instance's worker then finds the step done instead of making this call again). Two waits
-- recorded under one lease (asyncio.gather) leave it to this script: 'ewk' '' is "several".
local was = redis.call('HMGET', ikey, 'ewf', 'ewk')
local only = (was[1] == fence and was[2] ~= key) and '' or key
redis.call('HSET', ikey, 'ewf', fence, 'ewk', only, 'ew', event_type .. '\n' .. deadline .. '\n' ..
  head)
return save('wait', 'waiting', '')
