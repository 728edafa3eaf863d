-- An instance and the record of its current step.
-- KEYS: ikey, steps_stem
-- ARGV (after wf, iid): (none)
-- Replies: {} (no instance) | {instance fields, step record or ''}
if redis.call('EXISTS', ikey) == 0 then return {} end
local cur, rec = hget('cur'), nil
if cur then rec = redis.call('HGET', steps_stem .. hget('run'), cur) end
return {redis.call('HGETALL', ikey), rec or ''}
