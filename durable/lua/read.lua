-- An instance and the record of its current step. Returns {} | {fields, step record or ''}.
if redis.call('EXISTS', ikey) == 0 then return {} end
local cur, rec = hget('cur'), nil
if cur then rec = redis.call('HGET', base .. ':s:' .. hget('run'), cur) end
return {redis.call('HGETALL', ikey), rec or ''}
