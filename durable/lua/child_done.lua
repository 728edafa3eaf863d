-- A child's outcome reaches its parent (durable/children.py carries a 'done' outbox entry
-- over): kept on the parent for the invoke step that waits for it (instance field
-- 'c:<run>:<step key>', which the invoke script takes), and the parent woken. Nothing happens
-- when the parent is gone or ended, runs another run, or the step no longer waits (already
-- resolved, timed out, or a step.start): the entry is then simply dropped by the caller.
-- KEYS: ikey, steps_stem, children_key
-- ARGV (after wf, iid, the parent's): run, key (the step key), child (the child's member),
--   outcome ('completed' | 'errored'), tail (the step record's result or error: ',"r":...' or
--   ',"e":{...}')
-- Replies: {'ok'} | {'dropped'}
local status = hget('status')
if not status or is_terminal(status) or hget('run') ~= run then return {'dropped'} end
redis.call('SREM', children_key, child)
local rec = redis.call('HGET', steps_stem .. run, key)
if rec and not string.match(rec, '^{"s":"waiting"') then return {'dropped'} end
if redis.call('HSETNX', ikey, 'c:' .. run .. ':' .. key, outcome .. '\n' .. tail) == 0 then
  return {'dropped'}  -- delivered before
end
wake_instance(status)
return {'ok'}
