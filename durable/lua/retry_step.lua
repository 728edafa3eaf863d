-- Re-open the errored last step of an errored instance (compare-and-set on its record), or,
-- with an empty step key, let a run that failed on nondeterminism replay from its recorded
-- steps (compare-and-set on the instance's error; no record changes; queued unless delayed).
-- KEYS: ikey, steps_stem, events_stem, logs_stem, eids_key, answer_key (the idempotency
--   answer of this call's key, '' for none)
-- ARGV (after wf, iid): key (the step key, '' for a replay), expected (record, or error),
--   head (the new record without its closing brace), delay_ms, answer_ttl_ms (how long the
--   answer is remembered), answer (JSON without its closing brace; "at" is added here)
-- Replies: {'ok', record, scheduled ms} | {'again', remembered answer} | {'notfound'}
--   | {'not_errored', status} | {'conflict'}
local delay = tonumber(delay_ms)
local status = hget('status')
if not status then return {'notfound'} end
local again = recalled()
if again then return {'again', again} end
if status ~= 'errored' then return {'not_errored', status} end
local at = now + delay
local rec = ''
if key == '' then
  if hget('error') ~= expected then return {'conflict'} end
else
  local skey = steps_stem .. hget('run')
  if hget('cur') ~= key or redis.call('HGET', skey, key) ~= expected then return {'conflict'} end
  rec = head .. ',"nr":' .. at .. ',"u":' .. now .. '}'
  redis.call('HSET', skey, key, rec)
end
persist_all()
redis.call('HDEL', ikey, 'error', 'completed', 'lost')
set_status((key == '' and delay == 0) and 'queued' or 'waiting')
schedule(at)
remember(answer_ttl_ms, answer .. ',"at":' .. at .. '}')
return {'ok', rec, at}
