-- Re-open the errored last step of an errored instance (compare-and-set on its record).
-- ARGV[A+1] step key, A+2 expected record, A+3 new record without closing brace, A+4 delay ms.
-- Returns {'ok', record, scheduled ms} | {'notfound'} | {'not_errored', status} | {'conflict'}.
local key, expected, head, delay = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], tonumber(ARGV[A + 4])
local status = hget('status')
if not status then return {'notfound'} end
if status ~= 'errored' then return {'not_errored', status} end
local skey = base .. ':s:' .. hget('run')
if hget('cur') ~= key or redis.call('HGET', skey, key) ~= expected then return {'conflict'} end
local at = now + delay
local rec = head .. ',"nr":' .. at .. ',"u":' .. now .. '}'
redis.call('HSET', skey, key, rec)
persist_all()
redis.call('HDEL', ikey, 'error', 'completed', 'lost')
set_status('waiting')
schedule(at)
return {'ok', rec, at}
