-- Record a step.invoke or step.start step of the parent, once its child exists (the child was
-- created first, by the create script in the child's partition): `start` records it completed
-- with the child's id; `wait` takes the child's outcome if child_done left it here already,
-- times the wait out (the child is terminated through the outbox, unless detached), or records
-- the wait. An attached child joins the parent's children set (terminating the parent
-- terminates it).
-- KEYS: ikey, steps_stem, logs_stem, children_key
-- ARGV (after wf, iid): fence, run, key (the step key), head (the step record without status
--   and closing brace), child (the child's member, wf/id), attach ('1' | '0'), mode ('wait' |
--   'start'), result (start: the step's result, JSON), deadline_ms (0: none), log_lines,
--   log_count (workflow-level lines among them), max_steps (per run), timeout_tail (the
--   record's error when the wait times out: ',"e":{...}')
-- Replies: {'done', step record, now} | {'timeout', step record, now, outbox entry}
--   | {'wait', step record, now} | {'fenced'} | {'limit'}
if not holds(fence) then return {'fenced'} end
local skey = steps_stem .. run
local existing = redis.call('HGET', skey, key)
if existing then  -- a retried call whose first reply was lost: answer it again
  local s = string.match(existing, '^{"s":"(%a+)"')
  if s == 'completed' or s == 'errored' then return {'done', existing, now} end
elseif redis.call('HLEN', skey) >= tonumber(max_steps) then
  return {'limit'}
end
push_logs(run, log_lines)
count_logs(log_count)
redis.call('HSET', ikey, 'cur', key, 'updated', now)
if attach == '1' then
  redis.call('SADD', children_key, child)
  redis.call('HSET', ikey, 'kids', 1)
end
head = head .. ',"u":' .. now

local function save(outcome, status, tail)
  local rec = '{"s":"' .. status .. '",' .. string.sub(head, 2) .. tail .. '}'
  redis.call('HSET', skey, key, rec)
  return {outcome, rec, now}
end

if mode == 'start' then return save('done', 'completed', ',"r":' .. result) end
local field = 'c:' .. run .. ':' .. key  -- the child's outcome, left by child_done
local outcome = hget(field)
if outcome then
  redis.call('HDEL', ikey, field)
  local nl = string.find(outcome, '\n', 1, true)
  return save('done', string.sub(outcome, 1, nl - 1), string.sub(outcome, nl + 1))
end
local deadline = tonumber(deadline_ms)
if deadline > 0 and now >= deadline then
  local reply = save('timeout', 'errored', timeout_tail)
  if attach == '1' then
    redis.call('SREM', children_key, child)
    reply[4] = stop_entry(child)
  end
  return reply
end
return save('wait', 'waiting', '')
