-- Re-open the errored last step of an errored instance (compare-and-set on its record), or,
-- with an empty step key, let a run that failed on nondeterminism replay from its recorded
-- steps (compare-and-set on the instance's error; no record changes; queued unless delayed).
-- ARGV[A+1] step key, A+2 expected record (or error), A+3 new record without closing brace,
-- A+4 delay ms, A+5 idempotency key ('' for none), A+6 how long the key is remembered (ms),
-- A+7 the answer to remember (JSON without closing brace; the scheduled time "at" is added here).
-- Returns {'ok', record, scheduled ms} | {'again', remembered answer} | {'notfound'}
-- | {'not_errored', status} | {'conflict'}.
local key, expected, head, delay = ARGV[A + 1], ARGV[A + 2], ARGV[A + 3], tonumber(ARGV[A + 4])
local idem, idemttl, answer = ARGV[A + 5], ARGV[A + 6], ARGV[A + 7]
local status = hget('status')
if not status then return {'notfound'} end
local again = recalled('retry-step', idem)
if again then return {'again', again} end
if status ~= 'errored' then return {'not_errored', status} end
local at = now + delay
local rec = ''
if key == '' then
  if hget('error') ~= expected then return {'conflict'} end
else
  local skey = base .. ':s:' .. hget('run')
  if hget('cur') ~= key or redis.call('HGET', skey, key) ~= expected then return {'conflict'} end
  rec = head .. ',"nr":' .. at .. ',"u":' .. now .. '}'
  redis.call('HSET', skey, key, rec)
end
persist_all()
redis.call('HDEL', ikey, 'error', 'completed', 'lost')
set_status((key == '' and delay == 0) and 'queued' or 'waiting')
schedule(at)
if answer then remember('retry-step', idem, idemttl, answer .. ',"at":' .. at .. '}') end
return {'ok', rec, at}
